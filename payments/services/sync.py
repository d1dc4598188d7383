"""Status sync: ask the processor what became of a payment's unresolved attempts and refunds, and
settle its answers. An unknown outcome is only ever resolved this way, never by calling again
with a new reference."""

from typing import Any

from django.db import transaction
from django.db.models import Q
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
from .attempts import complete_call, connector_for, status_read, sync_schedule
from .settlement import attempt_settle, refund_settle


def payment_sync(*, payment_id: str, scheduled: bool = True) -> Payment:
    """Ask the processor about every unresolved operation of the payment and apply the answers.

    Attempts still in flight (``started`` before their deadline) are left to their own process.
    An inconclusive answer reschedules (``PAYMENTS_SYNC_SCHEDULE_SECONDS``); after the last try
    the attempt or refund is flagged for an operator. ``scheduled`` False: an on-demand sync (a
    follow-up operation, the browser's return, an operator), which does not trust a search's
    "not found".
    """
    return payment_sync_from(payment_id=payment_id, source="sync", scheduled=scheduled)


def payment_sync_from(*, payment_id: str, source: str, scheduled: bool) -> Payment:
    """``source`` "sync": a status query that counts against the schedule; "webhook": a query a
    processor notification triggered (does not use up the schedule). Each query is counted
    before anything else is tried, so one that fails every time (even building the connector)
    still backs off and reaches the operator flag."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    now = timezone.now()
    attempts = PaymentAttempt.objects.filter(payment_id=payment_id, status__in=UNRESOLVED_ATTEMPT_STATUSES)
    for attempt in attempts.order_by("id"):
        if attempt.status == AttemptStatus.STARTED and attempt.next_sync_at and attempt.next_sync_at > now:
            continue
        payment = _attempt_sync(payment=payment, attempt=attempt, source=source, scheduled=scheduled)
    refunds = Refund.objects.filter(payment_id=payment_id, status=RefundStatus.PENDING)
    for refund in refunds.order_by("id"):
        if refund.processor_state == ProcessorState.STARTED and refund.next_sync_at and refund.next_sync_at > now:
            continue
        _refund_sync(payment=payment, refund=refund, source=source, scheduled=scheduled)
    return Payment.objects.get(pk=payment_id)


def _attempt_sync(*, payment: Payment, attempt: PaymentAttempt, source: str, scheduled: bool) -> Payment:
    if source == "sync":
        sync_try_record(PaymentAttempt, attempt, unresolved=Q(status__in=UNRESOLVED_ATTEMPT_STATUSES))
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
    if source == "sync":
        sync_try_record(Refund, refund, unresolved=Q(status=RefundStatus.PENDING))
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


def sync_try_record(model: type[PaymentAttempt] | type[Refund], row, *, unresolved: Q) -> None:
    """Count a status query in its own transaction, before its answer is applied: if applying
    raises every time, the count still grows, the schedule backs off and the operator flag comes.
    Durable: inside a caller's transaction the count would roll back with the failure it counts."""
    tries = row.sync_attempts + 1
    pending = getattr(row, "status", None) == AttemptStatus.PENDING or (
        getattr(row, "processor_state", None) == ProcessorState.PENDING
    )
    next_sync_at, flagged_at = sync_schedule(Resolution.PENDING if pending else Resolution.UNKNOWN, tries)
    fields: dict[str, Any] = {"sync_attempts": tries, "next_sync_at": next_sync_at, "updated": timezone.now()}
    if flagged_at is not None:
        fields["flagged_at"] = flagged_at
    with transaction.atomic(durable=True):
        model.objects.filter(unresolved, pk=row.pk).update(**fields)
    row.sync_attempts = tries


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
