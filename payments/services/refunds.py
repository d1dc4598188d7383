"""Refunds: reserve the amount under the payment's lock, call the processor, settle its answer.

Pending and succeeded refunds of a payment never add up to more than ``amount_received`` less
``amount_disputed`` (money a dispute took back cannot be refunded too; ``charge_disputed``): the
reservation is checked and written under the payment row lock, and committed before the
processor is called. Only a succeeded refund posts to the ledger (``settlement.refund_settle``).
"""

from django.db import transaction
from django.db.models import Sum

from events.services import event_record
from gateway.errors import Conflict, InvalidRequest
from gateway.idempotency import idempotency_recovery_point
from processors.selectors import processor_amount_check

from ..errors import ProcessorUnavailable
from ..inputs import refund_input_checked
from ..locks import payment_lock
from ..models import Payment, PaymentStatus, ProcessorState, Refund, RefundStatus
from ..outcomes import Resolution
from ..selectors import payment_get
from ..serializers import refund_data
from .attempts import connector_for, inflight_deadline, processor_call
from .settlement import refund_settle
from .sync import sync_unresolved_first


def refund_create(
    *,
    merchant_id: str,
    payment_id: str,
    amount: int | None = None,
    reason: str = "",
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> Refund:
    """Refund part or all (default: the rest) of a captured payment.

    The amount is reserved under the payment's row lock before the processor is called, so
    concurrent refunds can never together exceed ``amount_received``. Returns the refund
    (``succeeded``, ``failed`` when the processor refused, or ``pending``); 503 if no processor
    took the call (the refund is then ``failed`` and nothing moved).
    """
    amount = refund_input_checked(amount=amount, reason=reason)
    payment = sync_unresolved_first(
        payment_get(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode, param="payment")
    )
    with transaction.atomic(durable=True):
        payment = payment_lock(payment_id=payment.id)
        refund = _refund_reserve(payment=payment, amount=amount, reason=reason, metadata=metadata)
        idempotency_recovery_point(object_type="refund", object_id=refund.id, created=True)
    connector = connector_for(merchant_id=payment.merchant_id, account_id=refund.processor_account_id)
    result = processor_call(
        refund.id,
        connector,
        lambda c: c.refund(
            reference=refund.id,
            processor_reference=payment.processor_reference,
            amount=refund.amount,
            currency=refund.currency,
        ),
    )
    refund, resolution = refund_settle(refund=refund, payment=payment, result=result, source="call")
    if resolution == Resolution.NOT_PROCESSED:
        raise ProcessorUnavailable(
            "The processor could not take the refund; nothing was refunded. Retry later.",
            extra={"refund": refund_data(refund)},
        )
    return refund


def _refund_reserve(*, payment: Payment, amount: int | None, reason: str, metadata: dict[str, str] | None) -> Refund:
    """Step 1 (payment locked): check what is left to refund and write the pending refund."""
    if payment.status != PaymentStatus.SUCCEEDED or payment.amount_received <= 0:
        raise Conflict(
            f"This payment's status is '{payment.status}'; only a captured payment can be refunded.",
            code="payment_unexpected_state",
            param="payment",
        )
    reserved = (
        Refund.objects.filter(
            payment_id=payment.id, status__in=(RefundStatus.PENDING, RefundStatus.SUCCEEDED)
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    # What the processor withdrew for disputes (and has not reinstated) is not ours to refund again.
    disputed = payment.amount_disputed
    available = payment.amount_received - disputed - reserved
    if available <= 0:
        if disputed and payment.amount_received - reserved > 0:
            raise Conflict(
                f"This payment has been charged back: {disputed} is held by a dispute and the rest is refunded "
                "(or being refunded).",
                code="charge_disputed",
                param="payment",
            )
        raise Conflict(
            "This payment has been refunded in full (or the rest is being refunded).",
            code="charge_already_refunded",
            param="payment",
        )
    amount = available if amount is None else amount
    if amount > available:
        held = f", {disputed} is held by a dispute" if disputed else ""
        raise InvalidRequest(
            f"amount ({amount}) exceeds what is left to refund ({available}{held}).",
            code="amount_too_large",
            param="amount",
        )
    # The processor's own currency rules (e.g. whole forints at PayPal), before any row or call.
    processor_amount_check(processor=payment.processor, amount=amount, currency=payment.currency)
    refund = Refund.objects.create(
        merchant_id=payment.merchant_id,
        payment=payment,
        livemode=payment.livemode,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        metadata=metadata or {},
        processor=payment.processor,
        processor_account_id=payment.processor_account_id,
        processor_state=ProcessorState.STARTED,
        next_sync_at=inflight_deadline(),
    )
    event_record(
        merchant_id=refund.merchant_id, type="refund.created", data=refund_data(refund), livemode=refund.livemode
    )
    return refund
