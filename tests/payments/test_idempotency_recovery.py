"""Issue 13, section 1: a client can always learn the outcome of its request. A retry with the same
Idempotency-Key after the first request died (worker killed, database connection lost, a 500)
answers with the payment it created, resolved by a status query, and never creates or charges a
second one (gateway.idempotency recovery points + payments.services.recovery)."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.db.models import F
from django.utils import timezone

from gateway.models import IdempotencyKey
from payments.models import AttemptStatus, Payment, PaymentAttempt, Refund
from tests.payments.conftest import assert_books_balance, card, sandbox_charges, sandbox_refunds
from tests.races import join_all
from tests.waiting import WAIT_SECONDS, wait_until

BODY = {"amount": 2000, "currency": "usd", "payment_method": card(), "confirm": True, "metadata": {"ref": "A-1"}}


def in_thread(answers: dict, name: str, request) -> threading.Thread:
    def run():
        try:
            answers[name] = request()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def post(client, key: str, body=None, path: str = "/v1/payments"):
    return client.post(path, body if body is not None else BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)


def deadline_passes(key: str, settings) -> None:
    """As if the request deadline had passed since the key was claimed (no sleeping)."""
    back = timedelta(seconds=settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS + 1)
    IdempotencyKey.objects.filter(key=key).update(locked_at=F("locked_at") - back)


def killed_after_the_charge(monkeypatch):
    """The worker dies after the processor charged, before step 3 (SIGKILL, a worker timeout)."""

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("payments.services.confirmation.attempt_settle", die)


# --- a request killed mid-way -------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_after_a_worker_died_mid_request_answers_the_charged_payment(
    secret_client, merchant_keys, monkeypatch, settings
):
    # Given a request killed after the sandbox charged the card: the key is left claimed
    killed_after_the_charge(monkeypatch)
    with pytest.raises(SystemExit):
        post(secret_client, "killed-1")
    monkeypatch.undo()
    (payment,) = Payment.objects.filter(merchant_id=merchant_keys.merchant_id)
    assert payment.status == "processing" and payment.idempotency_key == "killed-1"
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    # While the request could still be running, a retry is told to wait
    assert post(secret_client, "killed-1").status_code == 409

    # When the request deadline has passed and the client retries with the same key
    deadline_passes("killed-1", settings)
    retry = post(secret_client, "killed-1")

    # Then it answers the payment, resolved by a status query: charged once, booked once
    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert (retry.json()["id"], retry.json()["status"]) == (payment.id, "succeeded")
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()
    # and, settled, the answer is stored: later retries replay it
    row = IdempotencyKey.objects.get(key="killed-1")
    assert (row.response_status, row.recovery_object_id, row.locked_at) == (201, payment.id, None)
    again = post(secret_client, "killed-1")
    assert again.json() == retry.json()


@pytest.mark.django_db
def test_retry_while_the_outcome_is_still_unknown_answers_processing_and_is_not_stored(
    secret_client, merchant_keys, monkeypatch, settings
):
    # Given a request killed before the processor was even called (nothing charged)
    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("payments.services.confirmation._authorize", die)
    with pytest.raises(SystemExit):
        post(secret_client, "killed-2")
    monkeypatch.undo()
    deadline_passes("killed-2", settings)

    # When the client retries: the status query finds nothing, which an on-demand query does not trust
    retry = post(secret_client, "killed-2")

    # Then the answer is the payment, still processing, and it is not stored (the next retry reads again)
    assert retry.status_code == 201
    assert retry.json()["status"] == "processing"
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 0
    row = IdempotencyKey.objects.get(key="killed-2")
    assert row.response_status is None and row.locked_at is None
    assert post(secret_client, "killed-2").json()["id"] == retry.json()["id"]
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    (attempt,) = PaymentAttempt.objects.filter(payment_id=retry.json()["id"])
    assert attempt.status == AttemptStatus.UNKNOWN  # the janitor's schedule resolves it (never a new charge)


# --- a 500 after the payment was created ---------------------------------------------------------


@pytest.mark.django_db
def test_a_500_after_the_payment_was_created_is_never_the_stored_answer(secret_client, merchant_keys, monkeypatch):
    # Given the database connection dying after the charge (step 3 raises): the client gets a 500
    def connection_lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("payments.services.confirmation.attempt_settle", connection_lost)
    first = post(secret_client, "five-hundred")
    assert first.status_code == 500
    monkeypatch.undo()
    row = IdempotencyKey.objects.get(key="five-hundred")
    assert row.response_status is None and row.locked_at is None  # released, not stored

    # When the client retries at once with the same key
    retry = post(secret_client, "five-hundred")

    # Then the answer is the payment (charged once, now resolved), not the 500 replayed
    assert retry.status_code == 201, retry.content
    assert retry.json()["status"] == "succeeded"
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()


@pytest.mark.django_db
def test_a_500_before_anything_was_created_runs_the_request_again(secret_client, merchant_keys, monkeypatch):
    def broken(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("payments.services.confirmation.order_lock", broken)
    assert post(secret_client, "early-500", {**BODY, "order": "ord_x"}).status_code == 500
    monkeypatch.undo()
    assert not Payment.objects.filter(merchant_id=merchant_keys.merchant_id).exists()

    retry = post(secret_client, "early-500", {**BODY, "order": "ord_x"})

    assert retry.status_code == 404  # executed this time: the order does not exist
    assert retry.json()["error"]["param"] == "order"


@pytest.mark.django_db
def test_a_stored_500_from_before_the_fix_is_recovered_too(secret_client, merchant_keys, monkeypatch, settings):
    killed_after_the_charge(monkeypatch)
    with pytest.raises(SystemExit):
        post(secret_client, "legacy-500")
    monkeypatch.undo()
    IdempotencyKey.objects.filter(key="legacy-500").update(response_status=500, response_body=None, locked_at=None)

    retry = post(secret_client, "legacy-500")

    assert (retry.status_code, retry.json()["status"]) == (201, "succeeded")
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1


# --- follow-ups and refunds ---------------------------------------------------------------------


@pytest.mark.django_db
def test_capture_killed_mid_request_is_answered_by_its_payment(secret_client, merchant_keys, monkeypatch, settings):
    created = post(secret_client, "auth", {**BODY, "capture_method": "manual"}).json()

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("payments.services.follow_ups.attempt_settle", die)
    with pytest.raises(SystemExit):
        post(secret_client, "capture-1", {}, path=f"/v1/payments/{created['id']}/capture")
    monkeypatch.undo()
    deadline_passes("capture-1", settings)

    retry = post(secret_client, "capture-1", {}, path=f"/v1/payments/{created['id']}/capture")

    assert retry.status_code == 200, retry.content
    assert (retry.json()["status"], retry.json()["amount_received"]) == ("succeeded", 2000)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.amount_captured == 2000
    assert_books_balance()


@pytest.mark.django_db
def test_refund_killed_mid_request_is_answered_by_its_refund(secret_client, merchant_keys, monkeypatch, settings):
    payment = post(secret_client, "pay").json()

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("payments.services.refunds.refund_settle", die)
    with pytest.raises(SystemExit):
        post(secret_client, "refund-1", {"payment": payment["id"], "amount": 500}, path="/v1/refunds")
    monkeypatch.undo()
    deadline_passes("refund-1", settings)

    retry = post(secret_client, "refund-1", {"payment": payment["id"], "amount": 500}, path="/v1/refunds")

    assert retry.status_code == 201, retry.content
    assert (retry.json()["object"], retry.json()["status"], retry.json()["amount"]) == ("refund", "succeeded", 500)
    assert Refund.objects.filter(payment_id=payment["id"]).count() == 1
    assert len(sandbox_refunds(merchant_keys.merchant_id)) == 1
    assert_books_balance()


@pytest.mark.django_db
def test_a_stale_claim_of_a_post_that_creates_no_money_object_simply_runs_again(secret_client, settings):
    body = {"email": "ada@example.com", "name": "Ada"}
    first = secret_client.post("/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="cust-stale")
    assert first.status_code == 201
    # the process died before storing its answer: the key is left claimed, no recovery point
    IdempotencyKey.objects.filter(key="cust-stale").update(
        response_status=None, response_body=None, locked_at=timezone.now()
    )
    assert (
        secret_client.post("/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="cust-stale").status_code == 409
    )
    deadline_passes("cust-stale", settings)

    again = secret_client.post("/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="cust-stale")

    assert again.status_code in (201, 409), again.content  # ran again (a duplicate email may be refused)
    assert again.get("Idempotent-Replayed") is None


# --- races with the still-running original (real threads) -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_retry_racing_the_still_running_original_never_creates_a_second_payment(merchant_keys, monkeypatch, settings):
    """The original is slow at the processor, past its deadline; a retry takes the key over and
    answers the payment in flight; the original then finishes. One payment, one charge."""
    from payments.services import confirmation

    at_processor, release = threading.Event(), threading.Event()
    real_call = confirmation.processor_call

    def slow_processor(reference, connector, call):
        at_processor.set()
        assert release.wait(WAIT_SECONDS)
        return real_call(reference, connector, call)

    monkeypatch.setattr(confirmation, "processor_call", slow_processor)
    answers = {}
    original = in_thread(answers, "original", lambda: post(merchant_keys.client(), "race-1"))
    assert at_processor.wait(WAIT_SECONDS)
    deadline_passes("race-1", settings)

    retry = post(merchant_keys.client(), "race-1")  # recovers: the payment exists, its call in flight

    assert retry.status_code == 201 and retry.json()["status"] == "processing"
    release.set()
    join_all([original])
    assert answers["original"].status_code == 201 and answers["original"].json()["status"] == "succeeded"
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    # the original could not store its answer (the key was taken over); the next retry recovers it
    final = post(merchant_keys.client(), "race-1")
    assert (final.json()["id"], final.json()["status"]) == (retry.json()["id"], "succeeded")
    assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_original_stuck_before_creating_loses_to_the_retry_that_took_over(merchant_keys, monkeypatch, settings):
    """The original is stuck before its payment exists, past its deadline: a retry creates the
    payment; the original's own creation then finds the key taken, is rolled back, and the
    original answers with the retry's payment (never a second one)."""
    from payments.services import confirmation

    stuck, release = threading.Event(), threading.Event()
    real_new = confirmation._payment_new
    calls = []

    def slow_new(**kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            stuck.set()
            assert release.wait(WAIT_SECONDS)
        return real_new(**kwargs)

    monkeypatch.setattr(confirmation, "_payment_new", slow_new)
    answers = {}
    original = in_thread(answers, "original", lambda: post(merchant_keys.client(), "race-2"))
    assert stuck.wait(WAIT_SECONDS)
    deadline_passes("race-2", settings)  # the key is claimed with the payment: nothing to age yet

    retry = post(merchant_keys.client(), "race-2")
    release.set()
    join_all([original])

    assert retry.status_code == 201 and retry.json()["status"] == "succeeded"
    assert answers["original"].status_code == 201
    assert answers["original"]["Idempotent-Replayed"] == "true"
    assert answers["original"].content == retry.content
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert post(merchant_keys.client(), "race-2").json()["id"] == retry.json()["id"]
    assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_many_retries_of_a_dead_request_recover_it_once(merchant_keys, settings):
    """Ten clients retry a dead request's key at once: each gets the one payment or a 409."""
    from tests.races import run_together

    killed = IdempotencyKey.objects.create(
        merchant_id=merchant_keys.merchant_id,
        scope="test:secret",
        key="dead-many",
        request_method="POST",
        request_path="/v1/payments",
        request_fingerprint=_fingerprint(BODY),
        locked_at=None,
        claim_token=None,
    )
    results = run_together(10, lambda i: post(merchant_keys.client(), "dead-many"))

    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    ids = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(ids) == 1
    wait_until(lambda: IdempotencyKey.objects.get(pk=killed.pk).response_status == 201)


def _fingerprint(body) -> str:
    from django.test import RequestFactory

    from gateway.idempotency import request_fingerprint

    return request_fingerprint(RequestFactory().post("/v1/payments", body, content_type="application/json"))
