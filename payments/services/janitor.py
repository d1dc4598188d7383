"""The janitor and its triggers: what brings a payment up to date with its processor when no
caller is waiting. The beat (``payments.tasks.payments_sync_due``) syncs operations whose next
status query is due and polls payments left waiting for the customer; a verified processor
webhook only *triggers* the same resolution (``payment_resolve``), never settles by itself."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from gateway.errors import not_found
from processors.base import Outcome, WebhookEvent

from ..models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus, Refund
from .attempts import connector_for, processor_call, requires_action_poll_next
from .follow_ups import payment_complete
from .sync import payment_sync_from, payment_sync_marker_clear

logger = logging.getLogger("payments")


def payment_apply_webhook(*, processor_account_id: str, event: WebhookEvent) -> None:
    """A verified processor notification is a trigger, never a verdict: events arrive late, out of
    order and about older charges of the same payment, so the result they carry is not applied.
    The payment the event's charge or refund belongs to is resolved by asking the processor
    (``payment_resolve``), after the caller's transaction commits (no row lock is held across
    that HTTP call, and a rolled-back receipt enqueues nothing).

    Registered as the processors app's webhook handler by ``PaymentsConfig.ready``.
    """
    from ..tasks import payment_resolve as payment_resolve_task  # the tasks module imports this package

    payment_id = _payment_id_by_reference(
        Refund,
        account_id=processor_account_id,
        processor_reference=event.refund_reference,
        our_reference=event.gateway_refund_reference,
    ) or _payment_id_by_reference(
        PaymentAttempt,
        account_id=processor_account_id,
        processor_reference=event.processor_reference,
        our_reference=event.gateway_reference,
    )
    if payment_id is None:
        logger.info("processor webhook for an unknown charge ignored", extra={"event_id": event.processor_event_id})
        return
    transaction.on_commit(lambda: payment_resolve_task.delay(payment_id), robust=True)


def payment_resolve_later(*, payment_id: str) -> None:
    """Hand a payment to the janitor's resolution path (``payment_resolve``, asking the processor)
    once the caller's transaction commits. Reconciliation calls this when the processor's record
    shows a charge whose outcome we never learnt, instead of settling it by itself."""
    from ..tasks import payment_resolve as payment_resolve_task  # the tasks module imports this package

    transaction.on_commit(lambda: payment_resolve_task.delay(payment_id), robust=True)


def _payment_id_by_reference(
    model: type[Refund] | type[PaymentAttempt],
    *,
    account_id: str,
    processor_reference: str | None,
    our_reference: str | None,
) -> str | None:
    """The payment a refund or attempt of this account belongs to, found by the processor's id or, for
    an operation whose reply was lost (no processor id yet), by ours (sent as the processor's
    idempotency key / metadata)."""
    if not processor_reference and not our_reference:
        return None
    match = Q(pk__in=[r for r in (processor_reference, our_reference) if r])
    if processor_reference:
        match |= Q(processor_reference=processor_reference)
    return (
        model.objects.filter(processor_account_id=account_id).filter(match).values_list("payment_id", flat=True).first()
    )


def payment_resolve(*, payment_id: str) -> Payment:
    """Bring a payment up to date with its processor without ever charging again: unresolved
    operations and refunds are queried (``payment_sync``, skipping calls still in flight); a
    payment waiting for the customer is finished with ``complete()`` once the processor reports
    that the customer acted (3-D Secure done or failed, PayPal approved)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return _requires_action_poll(payment)
    return payment_sync_from(payment_id=payment_id, source="webhook", scheduled=False)


def payment_requires_action_poll(*, payment_id: str) -> Payment:
    """The janitor's poll of a payment left in requires_action (the browser may never return)."""
    payment_sync_marker_clear(payment_id=payment_id)
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.PROCESSING:
        # A complete() may be in flight; if it turns out not processed the payment is back in
        # requires_action and must still have its poll.
        return payment
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        PaymentAttempt.objects.filter(payment_id=payment_id, status=AttemptStatus.REQUIRES_ACTION).update(
            next_sync_at=None
        )
        return payment
    return _requires_action_poll(payment)


def _requires_action_poll(payment: Payment) -> Payment:
    waiting = list(
        PaymentAttempt.objects.filter(payment_id=payment.id, status=AttemptStatus.REQUIRES_ACTION).order_by("-id")
    )
    if not waiting:
        return payment
    latest, older = waiting[0], waiting[1:]
    if older:
        PaymentAttempt.objects.filter(pk__in=[a.id for a in older]).update(next_sync_at=None)
    # Count the poll and schedule the next one before anything can fail (building the connector,
    # the read, complete()): the payment is never left waiting without a poll. A poll that finds
    # the customer still away (or cannot read) simply keeps this schedule; complete() clears it
    # by moving the payment on, or re-arms it if it did not get through.
    tries = latest.sync_attempts + 1
    # After the last poll the payment is abandoned; nothing was charged while it waits.
    next_sync_at = None if tries >= settings.PAYMENTS_REQUIRES_ACTION_POLL_MAX else requires_action_poll_next(tries)
    # Compare-and-set on the count: of two concurrent polls only one counts and asks.
    taken = PaymentAttempt.objects.filter(
        pk=latest.id, status=AttemptStatus.REQUIRES_ACTION, sync_attempts=latest.sync_attempts
    ).update(sync_attempts=F("sync_attempts") + 1, next_sync_at=next_sync_at, updated=timezone.now())
    if not taken:
        return payment
    connector = connector_for(merchant_id=payment.merchant_id, account_id=payment.processor_account_id)
    reference = payment.processor_reference or latest.processor_reference or None
    result = processor_call(
        latest.id, connector, lambda c: c.status(reference=latest.id, processor_reference=reference)
    )
    if result.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED, Outcome.PENDING):
        return payment_complete(payment_id=payment.id)
    return Payment.objects.get(pk=payment.id)


def payments_sync_enqueue_claim(*, payment_ids: list[str]) -> list[str]:
    """Mark the payments whose sync (or poll) the beat is about to enqueue; returns those marked
    now (one not yet started is not queued again until ``PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS``,
    when its message is presumed lost). The marker's timestamp is this run's token."""
    if not payment_ids:
        return []
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS)
    with transaction.atomic():
        Payment.objects.filter(pk__in=payment_ids).filter(
            Q(sync_enqueued_at__isnull=True) | Q(sync_enqueued_at__lt=stale_before)
        ).update(sync_enqueued_at=now)
        return list(Payment.objects.filter(pk__in=payment_ids, sync_enqueued_at=now).values_list("id", flat=True))
