import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from gateway.models import IdempotencyKey
from gateway.tasks import idempotency_keys_purge
from tests.races import join_all

pytestmark = pytest.mark.urls("tests.gateway.probe_urls")


def executions() -> int:
    return cache.get("probe-executions") or 0


@pytest.mark.django_db
def test_same_key_same_request_replays_first_response_byte_for_byte(secret_client, merchant_keys):
    # Given a first request with a key
    first = secret_client.post("/v1/probe", {"amount": 7}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    # When the same request is retried
    second = secret_client.post("/v1/probe", {"amount": 7}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    # Then the stored response is replayed and the handler ran once
    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert executions() == 1
    row = IdempotencyKey.objects.get(merchant_id=merchant_keys.merchant_id, key="k-1")
    assert row.response_status == 201 and row.locked_at is None


@pytest.mark.django_db
def test_same_key_different_body_is_422(secret_client):
    secret_client.post("/v1/probe", {"amount": 7}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = secret_client.post("/v1/probe", {"amount": 8}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "idempotency_error"
    assert executions() == 1


@pytest.mark.django_db
def test_error_responses_after_execution_are_replayed_too(secret_client):
    first = secret_client.post(
        "/v1/probe", {"amount": 1, "note": "conflict"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3"
    )
    second = secret_client.post(
        "/v1/probe", {"amount": 1, "note": "conflict"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3"
    )
    assert first.status_code == second.status_code == 409
    assert second.content == first.content
    assert executions() == 1


@pytest.mark.django_db
def test_validation_failure_releases_the_key(secret_client, merchant_keys):
    # Given a request that fails validation before executing
    bad = secret_client.post("/v1/probe", {"amount": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert bad.status_code == 400
    # Then nothing is kept, and the corrected request may reuse the key
    assert not IdempotencyKey.objects.filter(key="k-4").exists()
    good = secret_client.post("/v1/probe", {"amount": 3}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert good.status_code == 201


@pytest.mark.django_db
def test_keys_are_scoped_per_merchant(secret_client, other_merchant_keys):
    secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = other_merchant_keys.client().post("/v1/probe", {"amount": 2}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert other.status_code == 201 and "Idempotent-Replayed" not in other
    assert executions() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256])
def test_key_length_is_validated(secret_client, key):
    response = secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert executions() == 0


@pytest.mark.django_db
def test_request_with_key_still_in_flight_is_409(secret_client, merchant_keys):
    # Given a key claimed by a request that has not finished
    IdempotencyKey.objects.create(
        merchant_id=merchant_keys.merchant_id,
        scope="test:secret",
        key="k-5",
        request_method="POST",
        request_path="/v1/probe",
        request_fingerprint=_fingerprint_of(secret_client, {"amount": 1}),
        locked_at=timezone.now(),
    )
    response = secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert executions() == 0


def _fingerprint_of(client, body) -> str:
    from django.test import RequestFactory

    from gateway.idempotency import request_fingerprint

    return request_fingerprint(RequestFactory().post("/v1/probe", body, content_type="application/json"))


@pytest.mark.django_db
def test_expired_keys_are_purged_and_can_be_reused(secret_client, merchant_keys, settings):
    secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="fresh")
    IdempotencyKey.objects.filter(key="old").update(created=timezone.now() - timedelta(hours=25))
    # An expired key is treated as new even before the purge runs
    reused = secret_client.post("/v1/probe", {"amount": 9}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused
    IdempotencyKey.objects.filter(key="old").update(created=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=25))
    call_command("purge_idempotency_keys")
    assert not IdempotencyKey.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_threads_same_key_execute_the_handler_exactly_once(merchant_keys):
    # Given 50 clients posting the same request with the same key at the same moment
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    bodies: list[bytes] = []
    lock = threading.Lock()

    def post() -> None:
        client = merchant_keys.client()
        barrier.wait()
        try:
            response = client.post("/v1/probe?sleep=0.3", {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="race")
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 201:
                    bodies.append(response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    join_all(threads)
    # Then the handler ran once; the others were told to retry (409) or got the replay
    assert executions() == 1
    assert len(statuses) == 50
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert len(set(bodies)) == 1
    assert IdempotencyKey.objects.filter(key="race").count() == 1


@pytest.mark.django_db
def test_stored_responses_are_encrypted_at_rest(secret_client):
    first = secret_client.post("/v1/probe", {"amount": 424242}, format="json", HTTP_IDEMPOTENCY_KEY="enc")
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body FROM gateway_idempotencykey WHERE key = 'enc'")
        stored = bytes(cursor.fetchone()[0])
    assert b"424242" in first.content
    assert b"424242" not in stored and stored.startswith(b"v1.")
    replay = secret_client.post("/v1/probe", {"amount": 424242}, format="json", HTTP_IDEMPOTENCY_KEY="enc")
    assert replay.content == first.content


@pytest.mark.django_db
def test_test_and_live_keys_of_one_merchant_never_share_idempotency_keys(merchant_keys):
    from rest_framework.test import APIClient

    from merchants.models import Merchant
    from merchants.services import api_key_create

    live = APIClient()
    live_key = api_key_create(merchant=Merchant.objects.get(id=merchant_keys.merchant_id), kind="secret", livemode=True)
    live.credentials(HTTP_AUTHORIZATION=f"Bearer {live_key.raw_key}")
    test_response = merchant_keys.client().post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="m")
    live_response = live.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="m")
    assert "Idempotent-Replayed" not in live_response
    assert test_response.json()["execution"] == 1 and live_response.json()["execution"] == 2


@pytest.mark.django_db
def test_a_request_killed_mid_execution_keeps_its_key_claimed(secret_client, monkeypatch):
    # Given a handler interrupted by something that is not an ordinary exception (a worker timeout)
    from tests.gateway.probe_urls import ProbeCreateView

    def killed(self, request):
        raise SystemExit("worker timeout")

    monkeypatch.setattr(ProbeCreateView, "post", killed)
    with pytest.raises(SystemExit):
        secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="killed")
    monkeypatch.undo()
    # Then a retry with the key is told to wait (409) rather than executing a second time
    retry = secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="killed")
    assert retry.status_code == 409
    assert executions() == 0


@pytest.mark.django_db
def test_a_500_is_never_stored_and_the_retry_runs_the_handler_again(secret_client, monkeypatch):
    # Given a handler failing unexpectedly (a 500) on its first execution
    from tests.gateway.probe_urls import ProbeCreateView

    real_post = ProbeCreateView.post

    def crash_once(self, request):
        real_post(self, request)
        raise RuntimeError("connection lost after the work")

    monkeypatch.setattr(ProbeCreateView, "post", crash_once)
    assert (
        secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-500").status_code == 500
    )
    monkeypatch.undo()
    row = IdempotencyKey.objects.get(key="k-500")
    assert (row.response_status, row.locked_at) == (None, None)  # released, nothing stored

    # When the client retries: it runs again (this probe records no recovery point), and that answer is stored
    retry = secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-500")
    assert retry.status_code == 201 and executions() == 2
    assert IdempotencyKey.objects.get(key="k-500").response_status == 201


@pytest.mark.django_db
def test_a_claim_past_the_request_deadline_is_taken_over_by_the_retry(secret_client, merchant_keys, settings):
    IdempotencyKey.objects.create(
        merchant_id=merchant_keys.merchant_id,
        scope="test:secret",
        key="k-stale",
        request_method="POST",
        request_path="/v1/probe",
        request_fingerprint=_fingerprint_of(secret_client, {"amount": 1}),
        locked_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS + 1),
    )
    retry = secret_client.post("/v1/probe", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-stale")
    assert retry.status_code == 201 and executions() == 1
    row = IdempotencyKey.objects.get(key="k-stale")
    assert row.response_status == 201 and row.claim_token is not None
