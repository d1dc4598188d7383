"""Proof with a real Celery worker process, the real broker and real HTTP receivers on 127.0.0.1.

The worker runs with small delays (``webhook_env``): retries after 0.3 s, 0.6 s, ..., and
deliveries counted as stuck 1 s after they were due. Its attempt timeout is a generous 30 s,
also where a test waits for one to expire. Every wait is for a condition, with a deadline only
a broken build reaches.
"""

import re
import time

import pytest

from events.models import Delivery, DeliveryAttempt, Event
from events.tasks import deliveries_sweep, delivery_attempt
from tests.factories import MerchantFactory

from .factories import FACTORY_SECRET, EventFactory, WebhookEndpointFactory
from .helpers import README_DOC, load_verifier, record_event, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _task_result_logged(worker, task_id: str) -> str | None:
    match = re.search(rf"\[{re.escape(task_id)}\] succeeded in [0-9.]+s: '?([a-z_]+)", worker.log_path.read_text())
    return match.group(1) if match else None


def test_a_flaky_receiver_gets_the_event_once_with_a_valid_signature(events_worker, receiver_factory):
    # Given a receiver that fails twice and then accepts
    merchant = MerchantFactory()
    receiver = receiver_factory(statuses=[500, 502, 200])
    WebhookEndpointFactory(merchant=merchant, url=receiver.url, enabled_events=["payment.succeeded"])
    # When a payment event is recorded in its transaction
    event = record_event(merchant_id=merchant.id)
    # Then the worker retries until the receiver accepts
    [accepted] = wait_until(receiver.accepted, message="accepted delivery")
    assert accepted.event["id"] == event.id
    # And the documented receiver snippet verifies the signature of what arrived
    verify = load_verifier(README_DOC)
    assert verify(accepted.body, accepted.headers["Gateway-Signature"], FACTORY_SECRET)
    assert [r.status for r in receiver.requests] == [500, 502, 200]
    # And every attempt is recorded
    delivery = wait_until(lambda: Delivery.objects.filter(event=event, status="succeeded").first())
    assert list(delivery.attempts.values_list("number", "status_code", "succeeded")) == [
        (1, 500, False),
        (2, 502, False),
        (3, 200, True),
    ]
    assert delivery.attempt_count == 3
    # When the attempt task is delivered again (broker redelivery) and the sweep runs
    again = delivery_attempt.delay(delivery.id)
    sweep = deliveries_sweep.delay()
    assert wait_until(lambda: _task_result_logged(events_worker, again.id)) == "already_succeeded"
    wait_until(lambda: f"[{sweep.id}] succeeded" in events_worker.log_path.read_text())
    # Then nothing is sent twice, also once the worker has nothing left to do
    events_worker.wait_idle()
    assert receiver.count() == 3
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 3


# The held attempt ends at this timeout, and the test says the other deliveries all ended before
# it: so it is as generous as the attempts' usual 30 s (a loaded worker still delivers them in
# time), and above the 10 s default, so the lower bound on its latency tells the two apart.
ATTEMPT_TIMEOUT = 30.0


@pytest.mark.parametrize("webhook_env", [{"WEBHOOK_TIMEOUT_SECONDS": ATTEMPT_TIMEOUT}], indirect=True)
def test_a_receiver_that_never_answers_does_not_block_other_endpoints(events_worker, receiver_factory):
    # Given one endpoint whose first request is never answered (later ones are), and a healthy one
    merchant = MerchantFactory()
    silent = receiver_factory(statuses=["hang", 200])
    healthy = receiver_factory(statuses=[200])
    silent_endpoint = WebhookEndpointFactory(merchant=merchant, url=silent.url)
    WebhookEndpointFactory(merchant=merchant, url=healthy.url)
    # When events are recorded
    events = [record_event(merchant_id=merchant.id) for _ in range(3)]
    # Then every other delivery completes while the first silent request is still held open
    wait_until(lambda: len(healthy.accepted()) == 3, message="healthy endpoint got all events")
    wait_until(lambda: len(silent.accepted()) == 2, message="the silent endpoint's other deliveries")
    assert {r.event["id"] for r in healthy.accepted()} == {e.id for e in events}
    assert silent.requests[0].status is None  # still unanswered
    assert not DeliveryAttempt.objects.filter(delivery__endpoint=silent_endpoint, error__startswith="timeout").exists()
    # And the held attempt ends at the timeout, is recorded as such, and the retry delivers it
    attempt = wait_until(
        lambda: DeliveryAttempt.objects.filter(delivery__endpoint=silent_endpoint, succeeded=False).first()
    )
    assert attempt.status_code is None and attempt.error.startswith("timeout")
    # the configured timeout, not the 10 s default (a lower bound: load only makes it longer)
    assert attempt.latency_ms >= ATTEMPT_TIMEOUT * 1000 - 500
    wait_until(lambda: len(silent.accepted()) == 3, message="retry after the timeout")
    assert {r.event["id"] for r in silent.accepted()} == {e.id for e in events}
    silent.release()


def test_killing_the_worker_while_deliveries_are_pending_loses_none(events_worker, receiver_factory):
    # Given a receiver that holds the first requests without answering, and several events
    merchant = MerchantFactory()
    receiver = receiver_factory(statuses=["hang", "hang", 200])
    WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    events = [record_event(merchant_id=merchant.id) for _ in range(6)]
    wait_until(lambda: receiver.count() == 2, message="two attempts in flight")
    assert Delivery.objects.filter(status="succeeded").count() == 0
    # When the worker is killed mid-attempt (its unacked messages stay with the broker) and restarted
    events_worker.kill()
    receiver.release()
    events_worker.start()

    # Then, with the periodic sweep running (here sent by hand, as beat would), every event arrives
    def all_delivered():
        deliveries_sweep.delay()
        return Delivery.objects.filter(status="succeeded").count() == len(events)

    wait_until(all_delivered, interval=1.0, message="all deliveries succeeded")
    events_worker.wait_idle()  # the sweeps sent meanwhile have run: a duplicate would be here now
    accepted_ids = [r.event["id"] for r in receiver.accepted()]
    assert sorted(accepted_ids) == sorted(e.id for e in events)  # each exactly once
    assert Delivery.objects.count() == len(events)
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == len(events)


def test_an_event_without_scheduled_deliveries_is_delivered_by_the_periodic_sweep(
    events_worker, celery_beat, receiver_factory
):
    # Given an event committed but never handed to the broker (the process died after the commit)
    merchant = MerchantFactory()
    receiver = receiver_factory(statuses=[200])
    endpoint = WebhookEndpointFactory(merchant=merchant, url=receiver.url)
    time.sleep(0.01)  # the endpoint predates the event
    event = EventFactory(merchant=merchant)
    assert not Delivery.objects.exists()
    # When celery beat runs events.tasks.deliveries_sweep
    [request] = wait_until(receiver.accepted, message="delivered by the sweep")
    # Then the event is delivered, signed, and its fan-out is recorded
    assert request.event["id"] == event.id
    assert load_verifier()(request.body, request.headers["Gateway-Signature"], FACTORY_SECRET)
    assert Event.objects.get(id=event.id).deliveries_scheduled_at is not None
    delivery = wait_until(lambda: Delivery.objects.filter(endpoint=endpoint, status="succeeded").first())
    assert delivery.event_id == event.id
