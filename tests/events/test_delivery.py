"""Delivery services in this process (no worker): fan-out, signing, attempts, retries, give-up,
idempotency, cancellation, resend and the sweep, against a real HTTP receiver on 127.0.0.1."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.serializers import event_representation
from events.services import (
    deliveries_sweep,
    delivery_attempt,
    event_deliveries_create,
    event_resend,
    retry_delay_seconds,
)
from tests.factories import MerchantFactory
from tests.waiting import WAIT_SECONDS

from .factories import FACTORY_SECRET, EventFactory, WebhookEndpointFactory
from .helpers import load_verifier, record_event, wait_until


@pytest.fixture
def merchant(db):
    return MerchantFactory()


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_RETRY_JITTER = 0
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # generous: only a held ("hang") request may time out


def _make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_delivery_posts_the_signed_event_and_records_the_attempt(merchant, receiver_factory):
    # Given an endpoint and an event recorded as orders/payments do
    receiver = receiver_factory(statuses=[200])
    endpoint = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    event = record_event(merchant_id=merchant.id)
    # When the event is fanned out and the delivery attempted
    [delivery_id] = event_deliveries_create(event_id=event.id)
    outcome = delivery_attempt(delivery_id=delivery_id)
    # Then the receiver got the event JSON, signed with the endpoint's secret
    assert outcome == "succeeded"
    [request] = receiver.requests
    event.refresh_from_db()
    assert request.event == json.loads(json.dumps(event_representation(event)))
    assert set(request.event) == {"id", "object", "type", "created", "livemode", "data", "request"}
    assert request.event["data"]["object"]["amount"] == 1500
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["Gateway-Event-Id"] == event.id
    assert request.headers["Gateway-Delivery-Id"] == delivery_id
    verify = load_verifier()
    assert verify(request.body, request.headers["Gateway-Signature"], FACTORY_SECRET)
    assert not verify(request.body, request.headers["Gateway-Signature"], "whsec_wrong")
    # And the database records the attempt and the outcome
    delivery = Delivery.objects.get(id=delivery_id)
    assert (delivery.status, delivery.attempt_count, delivery.endpoint_id) == ("succeeded", 1, endpoint.id)
    assert delivery.completed_at is not None and delivery.next_attempt_at is None
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.succeeded, attempt.status_code, attempt.response_body) == (1, True, 200, "ok")
    assert attempt.ip == "127.0.0.1" and attempt.error == "" and attempt.latency_ms >= 0
    assert event.deliveries_scheduled_at is not None


def test_fan_out_reaches_only_enabled_subscribed_endpoints_of_the_same_merchant_and_mode(merchant):
    # Given endpoints in every situation
    everything = WebhookEndpointFactory(merchant=merchant, enabled_events=["*"])
    subscribed = WebhookEndpointFactory(merchant=merchant, enabled_events=["refund.created", "payment.succeeded"])
    WebhookEndpointFactory(merchant=merchant, enabled_events=["refund.created"])
    WebhookEndpointFactory(merchant=merchant, enabled=False)
    WebhookEndpointFactory(merchant=merchant, deleted_at=timezone.now(), enabled=False)
    WebhookEndpointFactory(merchant=merchant, livemode=True)
    WebhookEndpointFactory()  # another merchant
    event = record_event(merchant_id=merchant.id, type="payment.succeeded")
    WebhookEndpointFactory(merchant=merchant)  # registered after the event
    # When fanned out twice (the on-commit task and the sweep may both run)
    first = event_deliveries_create(event_id=event.id)
    second = event_deliveries_create(event_id=event.id)
    # Then exactly one delivery per matching endpoint exists
    assert second == []
    assert set(Delivery.objects.filter(id__in=first).values_list("endpoint_id", flat=True)) == {
        everything.id,
        subscribed.id,
    }
    assert Delivery.objects.count() == 2


def test_a_failed_attempt_is_recorded_and_retried_later_with_backoff(merchant, receiver_factory, fast_retries):
    # Given a receiver answering 500 with a large body
    receiver = receiver_factory(statuses=[500], response_body=b"x" * 10_000)
    endpoint = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    # When the first attempt fails
    before = timezone.now()
    assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
    # Then the attempt is recorded with a truncated body, and the next one is due after the base delay
    delivery = Delivery.objects.get(id=delivery_id)
    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    assert before + timedelta(seconds=59) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=61)
    attempt = delivery.attempts.get()
    assert (attempt.succeeded, attempt.status_code, len(attempt.response_body)) == (False, 500, 2048)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None and endpoint.flagged_at is None
    # And a task arriving before that time does nothing
    assert delivery_attempt(delivery_id=delivery_id) == "not_due"
    assert receiver.count() == 1
    # When it is due and the receiver recovers, the second attempt succeeds and the endpoint is healthy
    receiver.statuses[:] = [500, 204]
    _make_due(delivery)
    assert delivery_attempt(delivery_id=delivery_id) == "succeeded"
    assert list(delivery.attempts.values_list("number", "status_code")) == [(1, 500), (2, 204)]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


@pytest.mark.parametrize(
    ("answer", "error_part"),
    [(301, ""), (404, ""), ("hang", "timeout")],
)
def test_non_2xx_and_timeouts_are_failures(merchant, receiver_factory, fast_retries, settings, answer, error_part):
    if answer == "hang":  # held until the receiver closes: the short timeout always expires first
        settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver = receiver_factory(statuses=[answer])
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
    attempt = DeliveryAttempt.objects.get(delivery_id=delivery_id)
    assert attempt.succeeded is False
    assert attempt.status_code == (None if answer == "hang" else answer)
    assert error_part in attempt.error
    assert receiver.count() == 1  # a redirect is not followed


def test_connection_errors_are_recorded(merchant, fast_retries):
    from tests.conftest import free_port

    WebhookEndpointFactory(merchant=merchant, url=f"http://127.0.0.1:{free_port()}/nobody")
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
    assert DeliveryAttempt.objects.get(delivery_id=delivery_id).error == "connection_refused"


def test_https_receivers_must_present_a_valid_certificate(merchant, fast_retries, tmp_path):
    import ssl
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from .tls import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        WebhookEndpointFactory(merchant=merchant, url=f"https://localhost:{server.server_address[1]}/hook")
        [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
        assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
        assert "tls_error" in DeliveryAttempt.objects.get(delivery_id=delivery_id).error
        assert "CERTIFICATE_VERIFY_FAILED" in DeliveryAttempt.objects.get(delivery_id=delivery_id).error
    finally:
        thread.join(5)
        server.server_close()


def test_retry_schedule_is_exponential_capped_jittered_and_about_three_days(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 12 * 3600
    settings.WEBHOOK_RETRY_JITTER = 0.2
    retries = range(1, settings.WEBHOOK_MAX_ATTEMPTS)
    plain = [retry_delay_seconds(attempt_number=n, jitter=False) for n in retries]
    assert plain[:5] == [60, 120, 240, 480, 960]
    assert plain[-1] == 12 * 3600
    assert 2.5 * 86400 < sum(plain) < 3.5 * 86400
    jittered = [retry_delay_seconds(attempt_number=3) for _ in range(200)]
    assert all(240 * 0.8 <= d <= 240 * 1.2 for d in jittered)
    assert len({round(d, 3) for d in jittered}) > 100


def test_after_the_last_attempt_the_delivery_fails_and_the_endpoint_is_flagged(
    merchant, receiver_factory, fast_retries, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver = receiver_factory(statuses=[503])
    endpoint = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    outcomes = []
    for number in range(1, 4):
        if number > 1:
            _make_due(Delivery.objects.get(id=delivery_id))
        outcomes.append(delivery_attempt(delivery_id=delivery_id))
    assert outcomes == ["retry_scheduled", "retry_scheduled", "failed"]
    delivery = Delivery.objects.get(id=delivery_id)
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 3, None)
    assert delivery_attempt(delivery_id=delivery_id) == "already_failed"
    assert receiver.count() == 3
    endpoint.refresh_from_db()
    assert endpoint.flagged_at is not None and endpoint.failing_since is not None
    # A later success clears the flags
    receiver.statuses[:] = [200]
    resent = event_resend(merchant_id=merchant.id, livemode=False, event_id=delivery.event_id)
    assert delivery_attempt(delivery_id=resent[0].id) == "succeeded"
    endpoint.refresh_from_db()
    assert endpoint.flagged_at is None and endpoint.failing_since is None


def test_a_redelivered_task_after_success_sends_nothing(merchant, receiver_factory):
    receiver = receiver_factory(statuses=[200])
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    assert delivery_attempt(delivery_id=delivery_id) == "succeeded"
    assert delivery_attempt(delivery_id=delivery_id) == "already_succeeded"
    assert receiver.count() == 1
    assert DeliveryAttempt.objects.filter(delivery_id=delivery_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_tasks_send_one_attempt(receiver_factory, settings):
    # Given a receiver that holds the first attempt until released, so two tasks for one delivery overlap
    settings.WEBHOOK_TIMEOUT_SECONDS = 60  # the first attempt is still in flight whatever the load
    merchant = MerchantFactory()
    receiver = receiver_factory(statuses=["hang"])
    endpoint = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    event = EventFactory(merchant=merchant, deliveries_scheduled_at=timezone.now())
    # Created directly: event_deliveries_create would run the attempt eagerly on commit here.
    delivery_id = Delivery.objects.create(
        merchant=merchant, event=event, endpoint=endpoint, next_attempt_at=timezone.now()
    ).id
    outcomes = []

    def attempt():
        try:
            outcomes.append(delivery_attempt(delivery_id=delivery_id))
        finally:
            connection.close()

    first = threading.Thread(target=attempt)
    first.start()
    wait_until(lambda: receiver.count() == 1, message="first attempt in flight")
    # When a duplicate task runs while the first is in flight, and the sweep runs too
    second = threading.Thread(target=attempt)
    second.start()
    second.join(WAIT_SECONDS)
    assert outcomes == ["locked_or_missing"]
    settings.WEBHOOK_STUCK_AFTER_SECONDS = 0
    assert deliveries_sweep()["deliveries_enqueued"] == 0  # the in-flight row is locked: skipped
    # Then only the first one sent a request
    receiver.release()
    first.join(WAIT_SECONDS)
    assert outcomes[1] in ("succeeded", "retry_scheduled")
    assert receiver.count() == 1
    assert DeliveryAttempt.objects.filter(delivery_id=delivery_id).count() == 1


def test_disabled_or_deleted_endpoints_cancel_their_pending_deliveries(merchant, receiver_factory):
    receiver = receiver_factory()
    disabled = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    deleted = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    ids = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    WebhookEndpoint.objects.filter(id=disabled.id).update(enabled=False)
    WebhookEndpoint.objects.filter(id=deleted.id).update(deleted_at=timezone.now(), enabled=False)
    assert [delivery_attempt(delivery_id=i) for i in ids] == ["canceled", "canceled"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"canceled"}
    assert receiver.count() == 0


def test_the_address_is_checked_again_at_delivery_time(merchant, receiver_factory, settings):
    # Given an endpoint accepted while private URLs were allowed (or whose DNS changed since)
    receiver = receiver_factory()
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    # When private addresses are refused at delivery time
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
    # Then nothing is sent and the attempt says why
    assert receiver.count() == 0
    attempt = DeliveryAttempt.objects.get(delivery_id=delivery_id)
    assert attempt.error.startswith("unsafe_url") and attempt.status_code is None


def test_the_request_goes_to_the_resolved_address_with_the_original_host_header(merchant, receiver_factory):
    receiver = receiver_factory()
    port = receiver.server.server_address[1]
    WebhookEndpointFactory(merchant=merchant, url=f"http://localhost:{port}/in?x=1")
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    assert delivery_attempt(delivery_id=delivery_id) == "succeeded"
    [request] = receiver.requests
    assert request.headers["Host"] == f"localhost:{port}"
    assert request.path == "/in?x=1"
    assert DeliveryAttempt.objects.get(delivery_id=delivery_id).ip == "127.0.0.1"


def test_signatures_during_and_after_a_secret_rotation(merchant_keys, secret_client, receiver_factory):
    # Given an endpoint registered through the API, then its secret rotated
    receiver = receiver_factory()
    created = secret_client.post(
        "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]}, format="json"
    ).json()
    rotated = secret_client.post(f"/v1/webhook_endpoints/{created['id']}/rotate_secret", {}, format="json").json()
    old, new = created["secret"], rotated["secret"]
    assert old != new and new.startswith("whsec_")
    verify = load_verifier()
    # When an event is delivered during the overlap, both secrets verify
    ids = event_deliveries_create(event_id=record_event(merchant_id=merchant_keys.merchant_id).id)
    assert delivery_attempt(delivery_id=ids[0]) == "succeeded"
    during = receiver.requests[-1]
    assert during.headers["Gateway-Signature"].count("v1=") == 2
    assert verify(during.body, during.headers["Gateway-Signature"], new)
    assert verify(during.body, during.headers["Gateway-Signature"], old)
    # When the overlap has ended, only the new secret verifies
    WebhookEndpoint.objects.filter(id=created["id"]).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    ids = event_deliveries_create(event_id=record_event(merchant_id=merchant_keys.merchant_id).id)
    assert delivery_attempt(delivery_id=ids[0]) == "succeeded"
    after = receiver.requests[-1]
    assert after.headers["Gateway-Signature"].count("v1=") == 1
    assert verify(after.body, after.headers["Gateway-Signature"], new)
    assert not verify(after.body, after.headers["Gateway-Signature"], old)


def test_the_sweep_fans_out_forgotten_events_and_reenqueues_lost_deliveries(merchant, settings):
    settings.WEBHOOK_STUCK_AFTER_SECONDS = 60
    endpoint = WebhookEndpointFactory(merchant=merchant)
    long_ago = timezone.now() - timedelta(minutes=5)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(created=long_ago - timedelta(minutes=1))
    # Given an event whose fan-out never ran (crash between commit and enqueue), a recent one
    # whose task may still be queued, and deliveries in every situation
    forgotten = EventFactory(merchant=merchant)
    recent = EventFactory(merchant=merchant)
    Event.objects.filter(id=forgotten.id).update(created=long_ago)
    delivered = EventFactory(merchant=merchant, deliveries_scheduled_at=long_ago)
    lost = Delivery.objects.create(
        merchant=merchant, event=delivered, endpoint=endpoint, next_attempt_at=long_ago, task_enqueued_at=long_ago
    )
    queued = Delivery.objects.create(
        merchant=merchant,
        event=delivered,
        endpoint=endpoint,
        is_resend=True,
        next_attempt_at=timezone.now(),
        task_enqueued_at=timezone.now(),
    )
    sweep_owned = Delivery.objects.create(
        merchant=merchant,
        event=delivered,
        endpoint=endpoint,
        is_resend=True,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        task_enqueued_at=None,
    )
    later = Delivery.objects.create(
        merchant=merchant,
        event=delivered,
        endpoint=endpoint,
        is_resend=True,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    # When the sweep runs
    result = deliveries_sweep()
    # Then the forgotten event got its delivery, and only lost or sweep-owned due deliveries were enqueued
    forgotten.refresh_from_db()
    assert forgotten.deliveries_scheduled_at is not None
    assert Delivery.objects.filter(event=forgotten, endpoint=endpoint).count() == 1
    assert Event.objects.get(id=recent.id).deliveries_scheduled_at is None
    assert result == {"events_fanned_out": 1, "deliveries_enqueued": 2}
    refreshed = {d.id: d.task_enqueued_at for d in Delivery.objects.all()}
    assert refreshed[lost.id] > long_ago
    assert refreshed[sweep_owned.id] is not None
    assert refreshed[queued.id] == queued.task_enqueued_at
    assert refreshed[later.id] is None
    # And a second sweep right away enqueues nothing again
    assert deliveries_sweep() == {"events_fanned_out": 0, "deliveries_enqueued": 0}


def test_long_retry_waits_are_left_to_the_sweep(merchant, receiver_factory, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 3600
    settings.WEBHOOK_RETRY_JITTER = 0
    receiver = receiver_factory(statuses=[500])
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    [delivery_id] = event_deliveries_create(event_id=record_event(merchant_id=merchant.id).id)
    assert delivery_attempt(delivery_id=delivery_id) == "retry_scheduled"
    assert Delivery.objects.get(id=delivery_id).task_enqueued_at is None


def test_resend_creates_new_deliveries(merchant, receiver_factory):
    receiver = receiver_factory()
    one = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    event = record_event(merchant_id=merchant.id)
    first = event_deliveries_create(event_id=event.id)
    for delivery_id in first:
        delivery_attempt(delivery_id=delivery_id)
    to_one = event_resend(merchant_id=merchant.id, livemode=False, event_id=event.id, endpoint_id=one.id)
    assert [d.endpoint_id for d in to_one] == [one.id]
    assert delivery_attempt(delivery_id=to_one[0].id) == "succeeded"
    to_all = event_resend(merchant_id=merchant.id, livemode=False, event_id=event.id)
    assert len(to_all) == 2 and all(d.is_resend for d in to_all)
    assert Delivery.objects.filter(event=event).count() == 5
    assert receiver.count() == 3
    assert {r.event["id"] for r in receiver.requests} == {event.id}
