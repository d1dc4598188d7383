"""event_record: no publish when nobody can receive the event, one publish per transaction otherwise."""

import pytest
from django.db import transaction

from events import tasks
from events.models import Event
from events.services import event_deliveries_create, event_record
from tests.factories import MerchantFactory

from .factories import WebhookEndpointFactory


@pytest.fixture
def merchant(db):
    return MerchantFactory()


DATA = {"id": "pay_123", "object": "payment", "amount": 1500, "currency": "EUR"}


@pytest.fixture
def published(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(tasks.event_deliveries_create, "delay", lambda event_id: calls.append([event_id]))
    monkeypatch.setattr(tasks.events_deliveries_create, "delay", lambda event_ids: calls.append(list(event_ids)))
    return calls


def _record(merchant, livemode=False):
    return event_record(merchant_id=merchant.id, type="payment.succeeded", data=DATA, livemode=livemode)


def test_without_an_enabled_endpoint_the_event_is_marked_scheduled_and_nothing_is_published(
    merchant, published, django_capture_on_commit_callbacks
):
    # Given endpoints that cannot receive: disabled, deleted, or in the other mode
    WebhookEndpointFactory(merchant=merchant, enabled=False)
    WebhookEndpointFactory(merchant=merchant, livemode=True)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = _record(merchant)
    # Then the event is written as already fanned out (the sweep skips it) and no task is sent
    stored = Event.objects.get(id=event.id)
    assert stored.deliveries_scheduled_at is not None
    assert event.deliveries_scheduled_at == stored.deliveries_scheduled_at
    assert published == []
    assert event_deliveries_create(event_id=event.id) == []


def test_with_an_endpoint_the_events_of_one_transaction_are_published_once(
    merchant, published, django_capture_on_commit_callbacks
):
    WebhookEndpointFactory(merchant=merchant)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = _record(merchant)
        second = _record(merchant)
        third = _record(merchant)
    assert published == [[first.id, second.id, third.id]]
    assert Event.objects.filter(id__in=[first.id, second.id, third.id], deliveries_scheduled_at=None).count() == 3
    # Alone in its transaction, an event goes out through the per-event task
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        alone = _record(merchant)
    assert published[-1] == [alone.id]


def test_an_event_in_a_rolled_back_savepoint_does_not_stop_the_others(
    merchant, published, django_capture_on_commit_callbacks
):
    WebhookEndpointFactory(merchant=merchant)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                _record(merchant)
                raise RuntimeError
        except RuntimeError:
            pass
        kept = _record(merchant)
    assert len(published) == 1 and kept.id in published[0]


def test_the_batch_task_fans_out_every_event(merchant):
    WebhookEndpointFactory(merchant=merchant)
    with transaction.atomic():
        events = [_record(merchant), _record(merchant)]
    assert tasks.events_deliveries_create.run([e.id for e in events]) == 2
    assert not Event.objects.filter(id__in=[e.id for e in events], deliveries_scheduled_at=None).exists()
