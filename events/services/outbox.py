"""The outbox: events written in the transaction of the change they record, their fan-out to
one ``Delivery`` per subscribed endpoint (once per event, also when it runs late), resends, and
the enqueuing of the Celery tasks that do the work (always after commit)."""

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from gateway.context import current_idempotency_key, current_request_id
from gateway.errors import InvalidRequest, not_found
from gateway.ids import new_id
from gateway.statements import rows_insert

from ..models import Delivery, Event, WebhookEndpoint
from .endpoints import endpoint_for_update


def event_record(*, merchant_id: str, type: str, data: dict[str, Any], livemode: bool = False) -> Event:
    """Write an event row. Must run inside the transaction that makes the change."""
    [event] = events_record(merchant_id=merchant_id, livemode=livemode, events=[(type, data)])
    return event


def events_record(
    *, merchant_id: str, livemode: bool = False, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[Event]:
    """Write several events of one merchant and mode, in order, in one INSERT. Must run inside the
    transaction that makes the change (the outbox: committed with it or not at all)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("event_record must be called inside the transaction of the change it records")
    request_id, idempotency_key = current_request_id(), current_idempotency_key()
    # Ids sort by millisecond, then at random: drawn together and sorted, so the events of one
    # batch keep their order in every list (ordered by id) even within one millisecond.
    ids = sorted(new_id("evt") for _ in events)
    rows = [
        Event(
            id=event_id,
            merchant_id=merchant_id,
            type=type,
            data={"object": data},
            livemode=livemode,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
        for event_id, (type, data) in zip(ids, events, strict=True)
    ]
    if rows and _insert_marking_unsubscribed(rows, connection):
        for event in rows:
            _fan_out_on_commit(event.id, connection)
    return rows


def _insert_marking_unsubscribed(events: list[Event], connection) -> bool:
    """INSERT the events (one merchant, one mode) in one statement; returns whether they need a fan-out.

    ``deliveries_scheduled_at`` is set in the INSERT itself when no enabled, undeleted endpoint of
    the merchant exists in the events' mode (EXISTS evaluated by that statement), and read back
    with RETURNING: one round trip for the whole batch, its SQL built once (gateway.statements).
    """
    if not connection.features.can_return_columns_from_insert:
        Event.objects.bulk_create(events)
        return True
    first = events[0]
    field = Event._meta.get_field("deliveries_scheduled_at")
    returned = rows_insert(
        events,
        returning=["deliveries_scheduled_at"],
        column_sql={
            "deliveries_scheduled_at": (
                _unsubscribed_sql(connection.alias),
                [first.merchant_id, first.livemode, True, field.get_db_prep_save(timezone.now(), connection)],
            )
        },
    )
    for event, (scheduled_at,) in zip(events, returned, strict=True):
        event.deliveries_scheduled_at = scheduled_at
    return returned[0][0] is None


@lru_cache(maxsize=8)
def _unsubscribed_sql(alias: str) -> str:
    """NULL (a fan-out is due) when an enabled, undeleted endpoint of the merchant exists in the
    mode, else the time given; parameters: merchant, mode, True, the time."""
    quote, meta = connections[alias].ops.quote_name, WebhookEndpoint._meta
    column = {name: quote(meta.get_field(name).column) for name in ("merchant", "livemode", "enabled", "deleted_at")}
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {quote(meta.db_table)} WHERE {column['merchant']} = %s"  # noqa: S608
        f" AND {column['livemode']} = %s AND {column['enabled']} = %s AND {column['deleted_at']} IS NULL)"
        " THEN NULL ELSE %s END"
    )


def _fan_out_on_commit(event_id: str, connection) -> None:
    """Publish the fan-out of this transaction's events once, after commit.

    Every event registers its own (robust) on-commit hook, so a rolled-back savepoint drops only
    its own hook; the first hook to run publishes the whole batch, the others find it empty. An id
    whose savepoint rolled back may still be published: the task finds no event and does nothing.
    """
    batch: list[str] | None = getattr(connection, "_events_fan_out_batch", None)
    if batch is None or not connection.run_on_commit:
        # No hook pending in this transaction: anything left over belongs to a rolled-back one.
        batch = []
        connection._events_fan_out_batch = batch
    batch.append(event_id)
    transaction.on_commit(lambda: _flush_fan_out(batch), using=connection.alias, robust=True)


def _flush_fan_out(batch: list[str]) -> None:
    event_ids = list(dict.fromkeys(batch))
    batch.clear()
    if event_ids:
        _enqueue_fan_out(event_ids)


def _enqueue_fan_out(event_ids: list[str]) -> None:
    # The tasks module imports this package: imported when first needed.
    from ..tasks import event_deliveries_create as event_deliveries_create_task
    from ..tasks import events_deliveries_create as events_deliveries_create_task

    if len(event_ids) == 1:
        event_deliveries_create_task.delay(event_ids[0])
    else:
        events_deliveries_create_task.delay(event_ids)


def delivery_enqueue(delivery_id: str, countdown: float = 0) -> None:
    """Enqueue one attempt of a delivery (now, or after ``countdown`` seconds)."""
    from ..tasks import delivery_attempt as delivery_attempt_task

    delivery_attempt_task.apply_async(args=[delivery_id], countdown=max(0.0, countdown))


def deliveries_enqueue_on_commit(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        transaction.on_commit(lambda d=delivery_id: delivery_enqueue(d), robust=True)


def event_deliveries_create(*, event_id: str) -> list[str]:
    """Fan an event out to its endpoints, once. Returns the ids of the deliveries created."""
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(id=event_id).first()
        if event is None or event.deliveries_scheduled_at is not None:
            return []
        now = timezone.now()
        # Endpoints registered after the event do not receive it, even when fan-out runs late.
        endpoints = WebhookEndpoint.objects.filter(
            merchant_id=event.merchant_id,
            livemode=event.livemode,
            enabled=True,
            deleted_at__isnull=True,
            created__lte=event.created,
        ).exclude(id__in=Delivery.objects.filter(event=event, is_resend=False).values("endpoint_id"))
        deliveries = [
            Delivery(
                merchant_id=event.merchant_id,
                event=event,
                endpoint=endpoint,
                next_attempt_at=now,
                task_enqueued_at=now,
            )
            for endpoint in endpoints
            if endpoint.subscribes_to(event.type)
        ]
        Delivery.objects.bulk_create(deliveries)
        event.deliveries_scheduled_at = now
        event.save(update_fields=["deliveries_scheduled_at"])
        ids = [d.id for d in deliveries]
        deliveries_enqueue_on_commit(ids)
        return ids


def event_resend(*, merchant_id: str, livemode: bool, event_id: str, endpoint_id: str | None = None) -> list[Delivery]:
    """New deliveries of an event: to one endpoint, or to every enabled endpoint subscribed to its type."""
    with transaction.atomic():
        event = Event.objects.filter(id=event_id, merchant_id=merchant_id, livemode=livemode).first()
        if event is None:
            raise not_found("event", event_id)
        if endpoint_id is not None:
            endpoint = endpoint_for_update(
                merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id, param="webhook_endpoint"
            )
            if not endpoint.enabled:
                raise InvalidRequest(
                    f"Webhook endpoint '{endpoint_id}' is disabled; enable it first.",
                    code="webhook_endpoint_disabled",
                    param="webhook_endpoint",
                )
            endpoints = [endpoint]
        else:
            endpoints = [
                e
                for e in WebhookEndpoint.objects.filter(
                    merchant_id=merchant_id, livemode=livemode, enabled=True, deleted_at__isnull=True
                )
                if e.subscribes_to(event.type)
            ]
        now = timezone.now()
        deliveries = [
            Delivery(
                merchant_id=merchant_id,
                event=event,
                endpoint=endpoint,
                is_resend=True,
                next_attempt_at=now,
                task_enqueued_at=now,
            )
            for endpoint in endpoints
        ]
        Delivery.objects.bulk_create(deliveries)
        deliveries_enqueue_on_commit([d.id for d in deliveries])
        return deliveries
