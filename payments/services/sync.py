"""Status sync: ask the processor what became of a payment's unresolved attempts and refunds, and
settle its answers. An unknown outcome is only ever resolved this way, never by calling again
with a new reference."""

from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from gateway.errors import not_found
from processors.base import Outcome

from ..models import (
    UNRESOLVED_ATTEMPT_STATUSES,
    AttemptOperation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    ProcessorState,
    Refund,
    RefundStatus,
)
from ..outcomes import Resolution
from .attempts import complete_call, connector_for, status_read, sync_anchor, sync_schedule
from .settlement import attempt_settle, refund_settle


def payment_sync(*, payment_id: str, scheduled: bool = True) -> Payment:
    """Ask the processor about the payment's unresolved operations and apply the answers.

    Scheduled (the janitor's ``payment_sync`` task): only operations whose next query is due are
    read and counted (``PAYMENTS_SYNC_SCHEDULE_SECONDS``, on the clock since the outcome became
    unknown); after the schedule's end the operation is flagged for an operator. ``scheduled``
    False: an on-demand sync (a follow-up operation, the browser's return, an operator) of every
    unresolved operation except calls still in flight; it counts nothing and does not trust a
    search's "not found".
    """
    if scheduled:
        payment_sync_marker_clear(payment_id=payment_id)
        return payment_sync_from(payment_id=payment_id, source="sync", scheduled=True)
    return payment_sync_from(payment_id=payment_id, source="on_demand", scheduled=False)


def payment_sync_marker_clear(*, payment_id: str) -> None:
    """The queued sync (or poll) has started: the beat may queue the next one when it is due."""
    Payment.objects.filter(pk=payment_id, sync_enqueued_at__isnull=False).update(sync_enqueued_at=None)


def payment_sync_from(*, payment_id: str, source: str, scheduled: bool) -> Payment:
    """``source`` "sync": the janitor's scheduled query of due operations, each counted (atomically,
    before anything else is tried, so one that fails every time still reaches the flag); "webhook"
    or "on_demand": a query of every unresolved operation except calls still in flight, counting
    nothing; "recovery": the same including calls presumed in flight (a retry of an idempotent
    request that is no longer running: the call's process is gone, and asking never charges)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    now = timezone.now()
    attempts = PaymentAttempt.objects.filter(payment_id=payment_id, status__in=UNRESOLVED_ATTEMPT_STATUSES)
    refunds = Refund.objects.filter(payment_id=payment_id, status=RefundStatus.PENDING).exclude(
        processor_state=ProcessorState.RESOLVED
    )
    if source == "sync":
        attempts = attempts.filter(next_sync_at__lte=now, flagged_at__isnull=True)
        refunds = refunds.filter(next_sync_at__lte=now, flagged_at__isnull=True)
    elif source != "recovery":
        attempts = attempts.exclude(status=AttemptStatus.STARTED, next_sync_at__gt=now)
        refunds = refunds.exclude(processor_state=ProcessorState.STARTED, next_sync_at__gt=now)
    settle_source = "webhook" if source in ("on_demand", "recovery") else source
    for attempt in attempts.order_by("id"):
        if source == "sync" and not sync_try_claim(PaymentAttempt, attempt, now=now):
            continue  # another sync took this step
        payment = _attempt_sync(payment=payment, attempt=attempt, source=settle_source, scheduled=scheduled)
    for refund in refunds.order_by("id"):
        if source == "sync" and not sync_try_claim(Refund, refund, now=now):
            continue
        _refund_sync(payment=payment, refund=refund, source=settle_source, scheduled=scheduled)
    return Payment.objects.get(pk=payment_id)


def _attempt_sync(*, payment: Payment, attempt: PaymentAttempt, source: str, scheduled: bool) -> Payment:
    connector = connector_for(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
    result = status_read(
        connector,
        reference=attempt.id,
        has_processor_reference=bool(attempt.processor_reference),
        created=attempt.created,
        read=lambda c: c.status(reference=attempt.id, processor_reference=attempt.processor_reference or None),
        scheduled=scheduled,
    )
    approved = result.outcome == Outcome.PENDING and result.extra.get("approved")
    if attempt.operation == AttemptOperation.COMPLETE and approved:
        # The customer approved but our complete() never got through (PayPal APPROVED order):
        # finish it exactly as the poll does, with the same reference (the processor replays it).
        result = complete_call(payment=payment, attempt=attempt, connector=connector)
    return attempt_settle(payment=payment, attempt=attempt, result=result, source=source).payment


def _refund_sync(*, payment: Payment, refund: Refund, source: str, scheduled: bool) -> None:
    connector = connector_for(merchant_id=payment.merchant_id, account_id=refund.processor_account_id)
    result = status_read(
        connector,
        reference=refund.id,
        has_processor_reference=bool(refund.processor_reference),
        created=refund.created,
        read=lambda c: c.refund_status(
            reference=refund.id,
            processor_refund_reference=refund.processor_reference or None,
            processor_reference=payment.processor_reference or None,
            amount=refund.amount,
            currency=refund.currency,
        ),
        scheduled=scheduled,
    )
    refund_settle(refund=refund, payment=payment, result=result, source=source)


def sync_try_claim(model: type[PaymentAttempt] | type[Refund], row, *, now) -> bool:
    """Take one due step of the schedule: one UPDATE that counts the query (``sync_attempts + 1``
    in SQL) and moves ``next_sync_at`` to the schedule's next point, only if the row is still
    unresolved, due and uncounted since it was read (compare-and-set on the count). Of several
    concurrent syncs exactly one takes the step and asks; the others skip. Its own short
    transaction, committed before the query: if applying the answer raises every time, the
    schedule still advances and the flag still comes. False: not taken (someone else did)."""
    if model is PaymentAttempt:
        unresolved = Q(status__in=UNRESOLVED_ATTEMPT_STATUSES)
        pending = row.status == AttemptStatus.PENDING
    else:
        unresolved = Q(status=RefundStatus.PENDING) & ~Q(processor_state=ProcessorState.RESOLVED)
        pending = row.processor_state == ProcessorState.PENDING
    resolution = Resolution.PENDING if pending else Resolution.UNKNOWN
    next_sync_at, flagged_at = sync_schedule(resolution, since=sync_anchor(row, resolution))
    fields: dict[str, Any] = {
        "sync_attempts": F("sync_attempts") + 1,
        "next_sync_at": next_sync_at,
        "updated": timezone.now(),
    }
    if flagged_at is not None:
        fields["flagged_at"] = flagged_at
    with transaction.atomic(durable=True):
        taken = model.objects.filter(
            unresolved, pk=row.pk, sync_attempts=row.sync_attempts, next_sync_at__lte=now, flagged_at__isnull=True
        ).update(**fields)
    if taken:
        row.sync_attempts += 1
        row.next_sync_at = next_sync_at
    return bool(taken)


def sync_unresolved_first(payment: Payment) -> Payment:
    """A follow-up on a payment whose last operation is unknown or pending asks the processor first."""
    if (
        payment.status == PaymentStatus.PROCESSING
        and PaymentAttempt.objects.filter(
            payment_id=payment.id, status__in=(AttemptStatus.UNKNOWN, AttemptStatus.PENDING)
        ).exists()
    ):
        return payment_sync(payment_id=payment.id, scheduled=False)
    return payment
