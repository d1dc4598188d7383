"""Writes of the events app: the outbox, webhook endpoints, and delivering events to them.

Delivery flow (see docs/webhooks.md):
1. ``event_record`` writes the event in the caller's transaction and, on commit, enqueues
   ``event_deliveries_create`` (fan-out: one ``Delivery`` per enabled endpoint subscribed to the type).
   One publish per transaction, whatever the number of events it wrote. When the merchant has no
   enabled endpoint in the event's mode at the moment of the INSERT (an EXISTS inside that same
   statement, so no extra round trip), the event is written with ``deliveries_scheduled_at`` already
   set and nothing is published: there is nobody to deliver to. Consequence: an endpoint created or
   enabled concurrently with the change (committed after the event's INSERT) receives only events
   written after it became visible, never that one.
2. ``delivery_attempt`` (one Celery task per delivery) locks the delivery row, checks it is still
   pending and due, POSTs the signed event and records the attempt, all under that lock: a
   redelivered task finds the row locked (skips) or no longer due/pending (does nothing).
3. A failure schedules the next attempt (exponential back-off with jitter); after the last one the
   delivery fails and the endpoint is flagged.
4. ``deliveries_sweep`` (periodic) fans out events the on-commit hook missed and re-enqueues due
   deliveries whose task was lost, so a crash between commit and enqueue loses nothing.
"""

import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, Q, Value, When
from django.utils import timezone

from gateway.context import current_idempotency_key, current_request_id
from gateway.errors import InvalidRequest, not_found

from .http import post_json
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from .serializers import event_representation
from .signing import (
    HEADER,
    secret_generate,
    secret_needs_reencrypt,
    secret_open,
    secret_reencrypt,
    secret_seal,
    signature_header,
)
from .types import EVENT_TYPES, WILDCARD
from .url_safety import UnsafeUrl, webhook_target

logger = logging.getLogger("events.delivery")

# Delivery state machine: terminal states never change (a resend is a new delivery).
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    Delivery.Status.PENDING: frozenset(
        {Delivery.Status.PENDING, Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.CANCELED}
    ),
    Delivery.Status.SUCCEEDED: frozenset(),
    Delivery.Status.FAILED: frozenset(),
    Delivery.Status.CANCELED: frozenset(),
}
# A task arriving this early (clock skew between hosts) still attempts.
_DUE_TOLERANCE = timedelta(seconds=1)


def _delivery_transition(delivery: Delivery, status: str) -> None:
    if status not in DELIVERY_TRANSITIONS[delivery.status]:
        raise RuntimeError(f"delivery {delivery.id}: illegal transition {delivery.status} -> {status}")
    delivery.status = status


# --- Outbox -------------------------------------------------------------------------------------


def event_record(*, merchant_id: str, type: str, data: dict[str, Any], livemode: bool = False) -> Event:
    """Write an event row. Must run inside the transaction that makes the change."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("event_record must be called inside the transaction of the change it records")
    event = Event(
        merchant_id=merchant_id,
        type=type,
        data={"object": data},
        livemode=livemode,
        request_id=current_request_id(),
        idempotency_key=current_idempotency_key(),
    )
    if not _insert_marking_unsubscribed(event, connection):
        return event  # no endpoint to deliver to: already marked scheduled, nothing to publish
    _fan_out_on_commit(event.id, connection)
    return event


def _insert_marking_unsubscribed(event: Event, connection) -> bool:
    """INSERT the event; returns whether it needs a fan-out.

    ``deliveries_scheduled_at`` is set in the INSERT itself when no enabled, undeleted endpoint of
    the merchant exists in the event's mode (EXISTS evaluated by that statement), and read back with
    RETURNING: one round trip, as before.
    """
    if not connection.features.can_return_columns_from_insert:
        event.save(force_insert=True)
        return True
    has_endpoint = Exists(
        WebhookEndpoint.objects.filter(
            merchant_id=event.merchant_id, livemode=event.livemode, enabled=True, deleted_at__isnull=True
        )
    )
    field = Event._meta.get_field("deliveries_scheduled_at")
    event.deliveries_scheduled_at = Case(
        When(has_endpoint, then=Value(None, output_field=field)),
        default=Value(timezone.now(), output_field=field),
        output_field=field,
    )
    fields = [f for f in Event._meta.local_concrete_fields if not f.generated]
    [(scheduled_at,)] = Event._base_manager._insert(
        [event], fields=fields, returning_fields=[field], using=connection.alias
    )
    event.deliveries_scheduled_at = scheduled_at
    event._state.adding = False
    event._state.db = connection.alias
    return scheduled_at is None


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
    from .tasks import event_deliveries_create, events_deliveries_create

    if len(event_ids) == 1:
        event_deliveries_create.delay(event_ids[0])
    else:
        events_deliveries_create.delay(event_ids)


def _enqueue_attempt(delivery_id: str, countdown: float = 0) -> None:
    from .tasks import delivery_attempt

    delivery_attempt.apply_async(args=[delivery_id], countdown=max(0.0, countdown))


def _enqueue_attempts_on_commit(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        transaction.on_commit(lambda d=delivery_id: _enqueue_attempt(d), robust=True)


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
        _enqueue_attempts_on_commit(ids)
        return ids


def event_resend(*, merchant_id: str, livemode: bool, event_id: str, endpoint_id: str | None = None) -> list[Delivery]:
    """New deliveries of an event: to one endpoint, or to every enabled endpoint subscribed to its type."""
    with transaction.atomic():
        event = Event.objects.filter(id=event_id, merchant_id=merchant_id, livemode=livemode).first()
        if event is None:
            raise not_found("event", event_id)
        if endpoint_id is not None:
            endpoint = _endpoint_for_update(
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
        _enqueue_attempts_on_commit([d.id for d in deliveries])
        return deliveries


# --- Delivery -------------------------------------------------------------------------------------


def retry_delay_seconds(*, attempt_number: int, jitter: bool = True) -> float:
    """Wait after failed attempt ``attempt_number`` (1-based): base * 2**(n-1), capped, +/- jitter."""
    delay = min(
        settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** (attempt_number - 1)), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS
    )
    if jitter and settings.WEBHOOK_RETRY_JITTER:
        delay *= 1 + random.uniform(-settings.WEBHOOK_RETRY_JITTER, settings.WEBHOOK_RETRY_JITTER)
    return delay


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [secret_open(endpoint.secret_encrypted)]
    overlap_open = endpoint.previous_secret_expires_at is not None and endpoint.previous_secret_expires_at > now
    if endpoint.previous_secret_encrypted and overlap_open:
        secrets.append(secret_open(endpoint.previous_secret_encrypted))
    return secrets


def delivery_payload(event: Event) -> bytes:
    return json.dumps(event_representation(event), separators=(",", ":")).encode()


def delivery_attempt(*, delivery_id: str) -> str:
    """Attempt one delivery if it is still pending and due; returns what happened (for logs/tests).

    The row lock is held across the HTTP call: it is what makes a duplicate task (broker
    redelivery, sweep) skip instead of sending twice, and what the sweep reads as "in flight".
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None:
            return "locked_or_missing"
        if delivery.status != Delivery.Status.PENDING:
            return f"already_{delivery.status}"
        now = timezone.now()
        if delivery.next_attempt_at is None or delivery.next_attempt_at > now + _DUE_TOLERANCE:
            return "not_due"
        endpoint = delivery.endpoint
        if endpoint.deleted_at is not None or not endpoint.enabled:
            _delivery_transition(delivery, Delivery.Status.CANCELED)
            delivery.completed_at = now
            delivery.next_attempt_at = None
            delivery.task_enqueued_at = None
            delivery.save(update_fields=["status", "completed_at", "next_attempt_at", "task_enqueued_at", "updated"])
            return "canceled"

        payload = delivery_payload(delivery.event)
        timestamp = int(time.time())
        headers = {
            HEADER: signature_header(
                secrets_newest_first=_signing_secrets(endpoint, now), timestamp=timestamp, payload=payload
            ),
            "Gateway-Event-Id": delivery.event_id,
            "Gateway-Delivery-Id": delivery.id,
        }
        result = post_json(
            url=endpoint.url,
            body=payload,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_body_bytes=settings.WEBHOOK_RESPONSE_BODY_MAX_BYTES,
        )
        delivery.attempt_count += 1
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempt_count,
            attempted_at=now,
            succeeded=result.succeeded,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_body=result.body,
            url=endpoint.url,
            ip=result.address,
        )
        delivery.last_attempt_at = now
        outcome = _after_attempt(delivery, endpoint, succeeded=result.succeeded, now=timezone.now())
        delivery.save(
            update_fields=[
                "status",
                "attempt_count",
                "last_attempt_at",
                "next_attempt_at",
                "task_enqueued_at",
                "completed_at",
                "updated",
            ]
        )
    logger.info(
        "webhook attempt",
        extra={
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "endpoint_id": endpoint.id,
            "attempt": delivery.attempt_count,
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
            "error": result.error,
            "outcome": outcome,
        },
    )
    return outcome


def _after_attempt(delivery: Delivery, endpoint: WebhookEndpoint, *, succeeded: bool, now: datetime) -> str:
    endpoints = WebhookEndpoint.objects.filter(id=endpoint.id)
    if succeeded:
        _delivery_transition(delivery, Delivery.Status.SUCCEEDED)
        delivery.completed_at = now
        delivery.next_attempt_at = None
        delivery.task_enqueued_at = None
        endpoints.filter(Q(failing_since__isnull=False) | Q(flagged_at__isnull=False)).update(
            failing_since=None, flagged_at=None
        )
        return "succeeded"
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    if delivery.attempt_count >= settings.WEBHOOK_MAX_ATTEMPTS:
        _delivery_transition(delivery, Delivery.Status.FAILED)
        delivery.completed_at = now
        delivery.next_attempt_at = None
        delivery.task_enqueued_at = None
        endpoints.update(flagged_at=now)
        logger.warning("webhook delivery gave up", extra={"delivery_id": delivery.id, "endpoint_id": endpoint.id})
        return "failed"
    _delivery_transition(delivery, Delivery.Status.PENDING)
    delay = retry_delay_seconds(attempt_number=delivery.attempt_count)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    if delay <= settings.WEBHOOK_ETA_MAX_SECONDS:
        delivery.task_enqueued_at = now
        transaction.on_commit(lambda: _enqueue_attempt(delivery.id, countdown=delay), robust=True)
    else:
        # Long waits are not parked in the broker (Redis redelivers unacked ETA messages after its
        # visibility timeout); the periodic sweep enqueues the attempt when it is due.
        delivery.task_enqueued_at = None
    return "retry_scheduled"


def deliveries_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Fan out events that never were, and re-enqueue due deliveries whose task is missing.

    Rows an attempt is working on are locked and skipped. Enqueuing twice is harmless: the
    attempt re-checks status and due time under the row lock.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.WEBHOOK_STUCK_AFTER_SECONDS)
    batch = settings.WEBHOOK_SWEEP_BATCH

    fanned_out = 0
    unscheduled = list(
        Event.objects.filter(deliveries_scheduled_at__isnull=True, created__lte=stuck_before)
        .order_by("created")
        .values_list("id", flat=True)[:batch]
    )
    for event_id in unscheduled:
        event_deliveries_create(event_id=event_id)
        fanned_out += 1

    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING)
            .filter(
                Q(task_enqueued_at__isnull=True, next_attempt_at__lte=now)
                | Q(task_enqueued_at__lte=stuck_before, next_attempt_at__lte=stuck_before)
            )
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:batch]
        )
        Delivery.objects.filter(id__in=due).update(task_enqueued_at=now)
        _enqueue_attempts_on_commit(due)
    if fanned_out or due:
        logger.info("webhook sweep", extra={"events_fanned_out": fanned_out, "deliveries_enqueued": len(due)})
    return {"events_fanned_out": fanned_out, "deliveries_enqueued": len(due)}


# --- Webhook endpoints ---------------------------------------------------------------------------


def _validated_events(enabled_events: list[str]) -> list[str]:
    events = list(dict.fromkeys(enabled_events))
    if not events:
        raise InvalidRequest("enabled_events must list at least one event type.", param="enabled_events")
    if WILDCARD in events and len(events) > 1:
        raise InvalidRequest('"*" subscribes to every event; send it alone.', param="enabled_events")
    for index, name in enumerate(events):
        if name != WILDCARD and name not in EVENT_TYPES:
            raise InvalidRequest(
                f"Unknown event type '{name}'. Known types: {', '.join(sorted(EVENT_TYPES))}, or \"*\".",
                code="parameter_invalid",
                param=f"enabled_events[{index}]",
            )
    return events


def _validated_url(url: str) -> str:
    try:
        webhook_target(url)
    except UnsafeUrl as exc:
        raise InvalidRequest(str(exc), code="url_invalid", param="url") from None
    return url


def _endpoint_for_update(*, merchant_id: str, livemode: bool, endpoint_id: str, param: str = "id") -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .filter(id=endpoint_id, merchant_id=merchant_id, livemode=livemode, deleted_at__isnull=True)
        .first()
    )
    if endpoint is None:
        raise not_found("webhook_endpoint", endpoint_id, param=param)
    return endpoint


def webhook_endpoint_create(
    *,
    merchant_id: str,
    livemode: bool,
    url: str,
    enabled_events: list[str],
    description: str = "",
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (the only time it is shown)."""
    events = _validated_events(enabled_events)
    _validated_url(url)
    with transaction.atomic():
        count = WebhookEndpoint.objects.filter(merchant_id=merchant_id, deleted_at__isnull=True).count()
        if count >= settings.WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT:
            raise InvalidRequest(
                f"A merchant may have at most {settings.WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints.",
                code="webhook_endpoint_limit",
                param=None,
            )
        secret = secret_generate()
        endpoint = WebhookEndpoint.objects.create(
            merchant_id=merchant_id,
            livemode=livemode,
            url=url,
            enabled_events=events,
            description=description,
            enabled=enabled,
            secret_encrypted=secret_seal(secret),
        )
    return endpoint, secret


_UNSET: Any = object()


def webhook_endpoint_update(
    *,
    merchant_id: str,
    livemode: bool,
    endpoint_id: str,
    url: str = _UNSET,
    enabled_events: list[str] = _UNSET,
    description: str = _UNSET,
    enabled: bool = _UNSET,
) -> WebhookEndpoint:
    """Change the given fields only (omitted arguments stay as they are)."""
    changes: dict[str, Any] = {}
    if url is not _UNSET:
        changes["url"] = _validated_url(url)
    if enabled_events is not _UNSET:
        changes["enabled_events"] = _validated_events(enabled_events)
    if description is not _UNSET:
        changes["description"] = description
    if enabled is not _UNSET:
        changes["enabled"] = enabled
    with transaction.atomic():
        endpoint = _endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if changes:
            endpoint.save(update_fields=[*changes, "updated"])
    return endpoint


def webhook_endpoint_delete(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """Soft delete: the endpoint stops receiving (pending deliveries are canceled at their next
    attempt) while its delivery history stays for audit."""
    with transaction.atomic():
        endpoint = _endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        endpoint.deleted_at = timezone.now()
        endpoint.enabled = False
        endpoint.save(update_fields=["deleted_at", "enabled", "updated"])
    return endpoint


def webhook_endpoint_rotate_secret(
    *, merchant_id: str, livemode: bool, endpoint_id: str, overlap_seconds: int | None = None
) -> tuple[WebhookEndpoint, str]:
    """New signing secret; the current one keeps signing alongside it for ``overlap_seconds``
    (default ``WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS``), so receivers can switch without a gap."""
    if overlap_seconds is None:
        overlap_seconds = settings.WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS
    with transaction.atomic():
        endpoint = _endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        secret = secret_generate()
        if overlap_seconds > 0:
            endpoint.previous_secret_encrypted = endpoint.secret_encrypted
            endpoint.previous_secret_expires_at = timezone.now() + timedelta(seconds=overlap_seconds)
        else:
            endpoint.previous_secret_encrypted = None
            endpoint.previous_secret_expires_at = None
        endpoint.secret_encrypted = secret_seal(secret)
        endpoint.save(
            update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated"]
        )
    return endpoint, secret


def webhook_secrets_reencrypt() -> int:
    """Re-encrypt endpoint secrets still under an older key; returns how many endpoints changed."""
    changed = 0
    for endpoint_id in WebhookEndpoint.objects.values_list("id", flat=True).iterator():
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(id=endpoint_id)
            fields = []
            for field in ("secret_encrypted", "previous_secret_encrypted"):
                token = getattr(endpoint, field)
                if token and secret_needs_reencrypt(token):
                    setattr(endpoint, field, secret_reencrypt(token))
                    fields.append(field)
            if fields:
                endpoint.save(update_fields=fields)
                changed += 1
    return changed
