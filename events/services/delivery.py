"""Delivering events: one attempt of a delivery (the signed POST, recorded under the delivery's
row lock), retries with exponential back-off and jitter, giving up (and flagging the endpoint)
after the last one, and the periodic sweep that recovers what a crash between commit and enqueue
lost."""

import json
import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..http import PostResult, post_json
from ..models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from ..serializers import event_representation
from ..signing import HEADER, secret_open, signature_header
from .outbox import deliveries_enqueue_on_commit, delivery_enqueue, event_deliveries_create

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
            return _delivery_cancel(delivery, now=now)
        result = _delivery_post(delivery, endpoint, now=now)
        outcome = _attempt_record(delivery, endpoint, result, now=now)
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


def _delivery_cancel(delivery: Delivery, *, now: datetime) -> str:
    """The endpoint was deleted or disabled since the delivery was made: it will never be sent."""
    _delivery_transition(delivery, Delivery.Status.CANCELED)
    delivery.completed_at = now
    delivery.next_attempt_at = None
    delivery.task_enqueued_at = None
    delivery.save(update_fields=["status", "completed_at", "next_attempt_at", "task_enqueued_at", "updated"])
    return "canceled"


def _delivery_post(delivery: Delivery, endpoint: WebhookEndpoint, *, now: datetime) -> PostResult:
    """The signed POST of the event to the endpoint (SSRF-checked address, no redirects, hard timeout)."""
    payload = delivery_payload(delivery.event)
    headers = {
        HEADER: signature_header(
            secrets_newest_first=_signing_secrets(endpoint, now), timestamp=int(time.time()), payload=payload
        ),
        "Gateway-Event-Id": delivery.event_id,
        "Gateway-Delivery-Id": delivery.id,
    }
    return post_json(
        url=endpoint.url,
        body=payload,
        headers=headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        max_body_bytes=settings.WEBHOOK_RESPONSE_BODY_MAX_BYTES,
    )


def _attempt_record(delivery: Delivery, endpoint: WebhookEndpoint, result: PostResult, *, now: datetime) -> str:
    """Record the attempt and move the delivery on (under the row lock still held)."""
    delivery.attempt_count += 1
    DeliveryAttempt.objects.create(
        merchant_id=delivery.merchant_id,
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
        transaction.on_commit(lambda: delivery_enqueue(delivery.id, countdown=delay), robust=True)
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
        deliveries_enqueue_on_commit(due)
    if fanned_out or due:
        logger.info("webhook sweep", extra={"events_fanned_out": fanned_out, "deliveries_enqueued": len(due)})
    return {"events_fanned_out": fanned_out, "deliveries_enqueued": len(due)}
