"""Step 3 of every processor call: apply the processor's answer to an attempt or a refund.

The answer's ``Resolution`` (``payments.outcomes``) moves the payment through the state table;
the ledger posting, the order update and the event rows commit in the same transaction. The
update of the attempt (or refund) is conditional on it still being unresolved, so the caller,
the janitor and a webhook-triggered sync can never all apply one answer: the first wins, the
others find it settled (and an operator is asked to look if they disagree about money).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.services import event_record
from gateway.errors import API, CARD, ApiError
from gateway.idempotency import idempotency_answer_offer
from gateway.statements import row_update
from ledger.services import ledger_post_capture, ledger_post_refund
from orders.selectors import order_outstanding
from orders.services import order_mark_paid, order_record_refund
from processors.base import ProcessorResult

from ..errors import PaymentDeclined, ProcessorRefused, ProcessorUnavailable
from ..locks import payment_lock_with_order
from ..models import (
    UNRESOLVED_ATTEMPT_STATUSES,
    AttemptOperation,
    AttemptStatus,
    CaptureMethod,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    ProcessorState,
    Refund,
    RefundStatus,
)
from ..outcomes import ATTEMPT_STATUS_FOR, Resolution, attempt_resolution, refund_resolution
from ..serializers import payment_data, refund_data
from ..state import payment_transition
from .attempts import requires_action_poll_next, sync_anchor, sync_schedule
from .changes import payment_changed, payment_move, payment_save_changed, payment_snapshot
from .methods import method_after_use

logger = logging.getLogger("payments")

Op = AttemptOperation
R = Resolution

# Resolutions ``settlement_raise`` turns into an error answer (not the payment's representation).
_ANSWERED_WITH_AN_ERROR = frozenset({R.DECLINED, R.NOT_PROCESSED, R.REFUSED})

# Settled attempt statuses under which no money moved; a later report that it did needs an operator.
_NO_MONEY_MOVED_STATUSES = frozenset({AttemptStatus.FAILED, AttemptStatus.DECLINED, AttemptStatus.REQUIRES_ACTION})


@dataclass
class Settlement:
    payment: Payment
    resolution: Resolution | None  # None: the attempt had been settled already (by the janitor or a webhook)
    attempt: PaymentAttempt


# --- attempts -------------------------------------------------------------------------------------


def attempt_settle(*, payment: Payment, attempt: PaymentAttempt, result: ProcessorResult, source: str) -> Settlement:
    """Apply ``result`` to ``attempt``; ``source`` is "call" (its own call), "sync" or "webhook"."""
    resolution = attempt_resolution(
        operation=attempt.operation,
        result=result,
        source=source,
        capture_requested=payment.capture_method == CaptureMethod.AUTOMATIC,
    )
    with transaction.atomic():
        order, payment = payment_lock_with_order(payment=payment)
        fields = attempt_fields(attempt, result, resolution, source)
        claimed = row_update(
            PaymentAttempt, pk=attempt.id, values=fields, condition={"status": UNRESOLVED_ATTEMPT_STATUSES}
        )
        if not claimed:
            _late_result_check(attempt=attempt, resolution=resolution)
            return Settlement(payment, None, attempt)
        for name, value in fields.items():
            setattr(attempt, name, value)
        if resolution.is_open:
            return Settlement(payment, resolution, attempt)  # stays processing; the janitor asks again
        before = payment_snapshot(payment)
        event_type = _apply(payment=payment, attempt=attempt, result=result, resolution=resolution, order=order)
        payment_save_changed(payment, before)
        data = payment_changed(payment, event_type)
        if source == "call" and resolution not in _ANSWERED_WITH_AN_ERROR:
            # The request's answer is this payment as it is now: stored with the change (no
            # transaction after this one), if the request's idempotency claim allows it.
            idempotency_answer_offer(object_type="payment", object_id=payment.id, data=data or payment_data(payment))
        return Settlement(payment, resolution, attempt)


def attempt_fields(
    attempt: PaymentAttempt, result: ProcessorResult, resolution: Resolution, source: str
) -> dict[str, Any]:
    """The attempt's columns once ``result`` is applied (its schedule included)."""
    fields: dict[str, Any] = {
        "status": ATTEMPT_STATUS_FOR[resolution],
        "raw_status": (result.raw_status or "")[:64],
        "error_code": (result.error_code or "")[:64],
        "decline_code": (result.decline_code or "")[:64],
        "error_message": (result.message or "")[:500],
        "processor_reference": result.processor_reference or attempt.processor_reference,
        "next_sync_at": None,
        "updated": timezone.now(),
    }
    if source == "call":
        fields["latency_ms"] = result.latency_ms
    if resolution == R.REQUIRES_ACTION:
        # Nobody may bring the customer back: poll the processor if the payment is still waiting then.
        fields["sync_attempts"] = 0
        fields["next_sync_at"] = timezone.now() + timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS)
    elif resolution.is_open:
        fields.update(_open_attempt_fields(attempt, resolution, source))
    elif source != "call":
        fields["flagged_at"] = None  # resolved now (sync or webhook): a flag from an exhausted schedule is void
    return fields


def _open_attempt_fields(attempt: PaymentAttempt, resolution: Resolution, source: str) -> dict[str, Any]:
    # "sync" queries were counted before the settle, atomically in SQL (sync_try_claim); the count
    # is never written from this (possibly stale) copy, and the schedule runs on the clock.
    fields: dict[str, Any] = {}
    if source == "call":
        fields["sync_attempts"] = 0
    if resolution == R.PENDING and attempt.status != AttemptStatus.PENDING:
        fields["pending_since"] = attempt.pending_since = timezone.now()  # a new wait, on the pending schedule
    next_sync_at, flagged_at = sync_schedule(resolution, since=sync_anchor(attempt, resolution))
    if flagged_at is not None:
        logger.warning(
            "payment operation still unresolved after its schedule ran out; flagged for an operator",
            extra={"attempt_id": attempt.id, "payment_id": attempt.payment_id},
        )
    return fields | {"next_sync_at": next_sync_at, "flagged_at": flagged_at}


def _late_result_check(*, attempt: PaymentAttempt, resolution: Resolution) -> None:
    """A result for an attempt already settled. Harmless when they agree; if the processor says
    money moved but the attempt was settled as declined, not processed or waiting for the
    customer, the books and the processor disagree and an operator must reconcile."""
    current = PaymentAttempt.objects.filter(pk=attempt.id).values_list("status", flat=True).first()
    money_moved = resolution in (R.CAPTURED, R.AUTHORIZED)
    if (current in _NO_MONEY_MOVED_STATUSES and money_moved) or (
        current == AttemptStatus.FAILED and resolution == R.REQUIRES_ACTION
    ):
        PaymentAttempt.objects.filter(pk=attempt.id).update(flagged_at=timezone.now(), updated=timezone.now())
        logger.error(
            "processor reported success for an attempt already settled without it",
            extra={"attempt_id": attempt.id, "payment_id": attempt.payment_id},
        )


def _apply(*, payment: Payment, attempt: PaymentAttempt, result: ProcessorResult, resolution: Resolution, order) -> str:
    """Move the locked payment by the resolution; returns the event type to publish."""
    if attempt.operation in (Op.AUTHORIZE, Op.COMPLETE) and resolution != R.NOT_PROCESSED:
        payment.processor = attempt.processor
        payment.processor_account_id = attempt.processor_account_id
        payment.processor_reference = attempt.processor_reference or payment.processor_reference
    return _APPLY[resolution](payment=payment, attempt=attempt, result=result, order=order)


def _apply_requires_action(*, payment: Payment, result: ProcessorResult, **_) -> str:
    payment.next_action = {
        "type": "redirect_to_url",
        "redirect_to_url": {"url": result.redirect_url, "return_url": payment.return_url or None},
    }
    return payment_move(payment, "action_required")


def _apply_authorized(*, payment: Payment, result: ProcessorResult, **_) -> str:
    authorized = min(payment.amount, result.amount_authorized or payment.amount)
    payment.amount_authorized = authorized
    payment.amount_capturable = authorized
    payment.next_action = None
    payment.last_payment_error = None
    event_type = payment_move(payment, "authorized")
    method_after_use(payment)
    return event_type


def _apply_captured(*, payment: Payment, attempt: PaymentAttempt, result: ProcessorResult, order) -> str:
    captured = result.amount_captured or attempt.amount
    payment.amount_authorized = min(payment.amount, max(payment.amount_authorized, result.amount_authorized, captured))
    payment.amount_received = captured
    payment.amount_capturable = 0
    payment.next_action = None
    payment.last_payment_error = None
    event_type = payment_move(payment, "captured")
    ledger_post_capture(
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        payment_id=payment.id,
        capture_ref=attempt.id,
        amount=captured,
        currency=payment.currency,
    )
    if order is not None:
        _order_paid(order=order, payment=payment, amount=captured)
    method_after_use(payment)
    return event_type


def _apply_voided(*, payment: Payment, **_) -> str:
    payment.amount_capturable = 0
    payment.next_action = None
    payment.canceled_at = timezone.now()
    event_type = payment_move(payment, "voided")
    method_after_use(payment)
    return event_type


def _apply_declined(*, payment: Payment, result: ProcessorResult, **_) -> str:
    payment.decline_count += 1
    payment.next_action = None
    payment.last_payment_error = {
        "type": CARD,
        "code": result.error_code or "card_declined",
        "decline_code": result.decline_code or None,
        "message": result.message or "The payment was declined.",
    }
    final = payment.decline_count >= settings.PAYMENTS_MAX_DECLINES
    payment_move(payment, "declined_final" if final else "declined")
    if final:
        method_after_use(payment)
    return "payment.failed"


def _apply_refused(*, payment: Payment, attempt: PaymentAttempt, **_) -> str:
    # The processor refused our capture or void: nothing moved, back where the operation began.
    # The status event of that status (e.g. payment.authorized) already went out once.
    payment_transition(payment, "refused", to=attempt.origin_status)
    return "payment.updated"


def _apply_not_processed(*, payment: Payment, attempt: PaymentAttempt, **_) -> str:
    # Nothing happened at the processor; back to where the operation began (a payment that was
    # being confirmed needs a payment method again).
    began_unconfirmed = attempt.origin_status in (
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        PaymentStatus.REQUIRES_CONFIRMATION,
    )
    target = PaymentStatus.REQUIRES_PAYMENT_METHOD if began_unconfirmed else attempt.origin_status
    if attempt.operation == Op.AUTHORIZE:
        payment.last_payment_error = {
            "type": API,
            "code": "processor_unavailable",
            "decline_code": None,
            "message": "No payment processor could take the request; nothing was charged.",
        }
    payment_transition(payment, "not_processed", to=target)
    if attempt.operation == Op.COMPLETE and target == PaymentStatus.REQUIRES_ACTION:
        _requires_action_poll_rearm(payment_id=payment.id)
    return "payment.updated"


_APPLY = {
    R.REQUIRES_ACTION: _apply_requires_action,
    R.AUTHORIZED: _apply_authorized,
    R.CAPTURED: _apply_captured,
    R.VOIDED: _apply_voided,
    R.DECLINED: _apply_declined,
    R.REFUSED: _apply_refused,
    R.NOT_PROCESSED: _apply_not_processed,
}


def _requires_action_poll_rearm(*, payment_id: str) -> None:
    """A complete() that provably did not happen put the payment back in requires_action, but the
    customer may well have acted (the processor may hold the money): never leave it without a
    poll. After the last poll it is flagged instead, since nobody knows whether money moved."""
    latest = (
        PaymentAttempt.objects.filter(payment_id=payment_id, status=AttemptStatus.REQUIRES_ACTION)
        .order_by("-id")
        .first()
    )
    if latest is None:
        return
    fields: dict[str, Any] = {"updated": timezone.now()}
    if latest.sync_attempts >= settings.PAYMENTS_REQUIRES_ACTION_POLL_MAX:
        fields["next_sync_at"], fields["flagged_at"] = None, timezone.now()
        logger.warning(
            "payment waiting for the customer could not be completed after the last poll; flagged",
            extra={"attempt_id": latest.id, "payment_id": payment_id},
        )
    else:
        fields["next_sync_at"] = requires_action_poll_next(latest.sync_attempts)
    PaymentAttempt.objects.filter(pk=latest.id).update(**fields)


def _order_paid(*, order, payment: Payment, amount: int) -> None:
    """Captured money always books; if the order can no longer take it (canceled or paid
    meanwhile), the payment is flagged for an operator instead of losing the capture."""
    if amount <= order_outstanding(order=order) and order.currency == payment.currency:
        order_mark_paid(order=order, amount=amount)
        return
    payment.review_reason = "order_not_payable"
    logger.error(
        "captured a payment its order could not take; flagged for review",
        extra={"payment_id": payment.id, "order_id": order.id},
    )


def settlement_raise(settlement: Settlement) -> None:
    """After the commit: turn a decline or an unprocessed call into the API's error."""
    payment = settlement.payment
    if settlement.resolution == R.DECLINED:
        error = payment.last_payment_error or {}
        raise PaymentDeclined(
            error.get("message"),
            code=error.get("code") or "card_declined",
            param="payment_method",
            extra={"decline_code": error.get("decline_code"), "payment": payment_data(payment)},
        )
    if settlement.resolution == R.NOT_PROCESSED:
        raise ProcessorUnavailable(extra={"payment": payment_data(payment)})
    if settlement.resolution == R.REFUSED:
        raise ProcessorRefused(
            f"The processor refused the operation: {settlement.attempt.error_message or 'no reason given'}",
            extra={"payment": payment_data(payment)},
        )


# --- refunds --------------------------------------------------------------------------------------


def refund_settle(
    *, refund: Refund, payment: Payment, result: ProcessorResult, source: str
) -> tuple[Refund, Resolution | None]:
    """Apply ``result`` to a pending refund; returns it and its resolution (None: settled already)."""
    resolution = refund_resolution(result)
    fields = _refund_fields(refund, result, resolution, source)
    with transaction.atomic():
        order, payment = payment_lock_with_order(payment=payment)
        if not Refund.objects.filter(pk=refund.id, status=RefundStatus.PENDING).update(**fields):
            return _late_refund_result(refund=refund, resolution=resolution), None
        for name, value in fields.items():
            setattr(refund, name, value)
        if resolution == R.REFUNDED:
            _refund_succeeded(refund=refund, payment=payment, order=order)
        elif not resolution.is_open:
            event_record(
                merchant_id=refund.merchant_id, type="refund.failed", data=refund_data(refund), livemode=refund.livemode
            )
        return refund, resolution


def _refund_fields(refund: Refund, result: ProcessorResult, resolution: Resolution, source: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"updated": timezone.now()}
    if source == "call":
        fields["latency_ms"] = result.latency_ms
    if result.processor_reference:
        fields["processor_reference"] = result.processor_reference
    if resolution.is_open:
        if source == "call":
            fields["sync_attempts"] = 0  # "sync" tries are counted in SQL by sync_try_claim
        if resolution == R.PENDING and refund.processor_state != ProcessorState.PENDING:
            fields["pending_since"] = refund.pending_since = timezone.now()
        fields["processor_state"] = ProcessorState.UNKNOWN if resolution == R.UNKNOWN else ProcessorState.PENDING
        fields["next_sync_at"], fields["flagged_at"] = sync_schedule(resolution, since=sync_anchor(refund, resolution))
        return fields
    fields["processor_state"] = ProcessorState.RESOLVED
    fields["next_sync_at"] = None
    if source != "call":
        fields["flagged_at"] = None  # resolved now (sync or webhook): a flag from an exhausted schedule is void
    if resolution == R.REFUNDED:
        fields["status"] = RefundStatus.SUCCEEDED
    else:
        fields["status"] = RefundStatus.FAILED
        reason = "processor_unavailable" if resolution == R.NOT_PROCESSED else result.error_code or "declined"
        fields["failure_reason"] = reason[:64]
        fields["failure_message"] = (result.message or "")[:500]
    return fields


def _late_refund_result(*, refund: Refund, resolution: Resolution) -> Refund:
    """A result for a refund already settled; a "failed" for one that succeeded needs an operator."""
    current = Refund.objects.get(pk=refund.id)
    if current.status == RefundStatus.SUCCEEDED and resolution in (R.REFUSED, R.NOT_PROCESSED):
        Refund.objects.filter(pk=refund.id).update(flagged_at=timezone.now(), updated=timezone.now())
        logger.error("processor reports a succeeded refund as failed; flagged", extra={"refund_id": refund.id})
    return current


def _refund_succeeded(*, refund: Refund, payment: Payment, order) -> None:
    payment.amount_refunded += refund.amount
    payment.save(update_fields=["amount_refunded", "updated"])
    ledger_post_refund(
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        payment_id=payment.id,
        refund_id=refund.id,
        amount=refund.amount,
        currency=refund.currency,
    )
    if order is not None:
        _order_refunded(order=order, payment=payment, amount=refund.amount)
    event_record(
        merchant_id=refund.merchant_id, type="refund.succeeded", data=refund_data(refund), livemode=refund.livemode
    )
    payment_changed(payment, "payment.updated")


def _order_refunded(*, order, payment: Payment, amount: int) -> None:
    try:
        with transaction.atomic():
            order_record_refund(order=order, amount=amount)
    except ApiError:
        # The money went back to the customer either way; the order's books need an operator.
        payment.review_reason = "order_refund_not_recorded"
        payment.save(update_fields=["review_reason", "updated"])
        logger.error(
            "refund could not be recorded on its order", extra={"payment_id": payment.id, "order_id": order.id}
        )
