"""Follow-ups on a payment the processor already holds: capture, cancel (void) and complete
(the customer's return from 3-D Secure or PayPal). Each runs the three steps of a processor call
on the processor account that holds the payment; a payment whose last operation is unknown asks
the processor first (``sync_unresolved_first``)."""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from gateway.errors import Conflict, InvalidRequest, not_found
from gateway.idempotency import idempotency_recovery_point
from orders.selectors import order_outstanding
from processors.base import Connector, ProcessorResult
from processors.selectors import processor_amount_check

from ..inputs import amount_to_capture_checked, cancellation_reason_checked
from ..locks import payment_lock, payment_lock_with_order
from ..models import AttemptOperation, Payment, PaymentAttempt, PaymentStatus
from ..selectors import payment_get
from ..state import payment_transition, payment_unexpected_state, transition_allowed
from .attempts import attempt_new, complete_call, connector_for, processor_call
from .changes import payment_changed, payment_move
from .methods import method_after_use
from .settlement import attempt_settle, settlement_raise
from .sync import sync_unresolved_first

Op = AttemptOperation


def _follow_up_begin(payment: Payment, *, operation: str, action: str, amount: int) -> PaymentAttempt:
    """Start a capture, void or complete on the processor and account that hold the payment (the
    caller holds the row lock): the attempt, the move to ``processing`` and its event, saved."""
    attempt = attempt_new(
        payment,
        operation=operation,
        account_id=payment.processor_account_id,
        processor=payment.processor,
        amount=amount,
        processor_reference=payment.processor_reference,
    )
    payment_transition(payment, action)
    payment.save()
    attempt.save(force_insert=True)
    payment_changed(payment, "payment.processing")
    return attempt


def _follow_up_call(
    *, payment: Payment, attempt: PaymentAttempt, call: Callable[[Connector], ProcessorResult]
) -> Payment:
    """Steps 2 and 3: the call, outside any transaction, then its settlement (errors raised)."""
    connector = connector_for(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
    result = processor_call(attempt.id, connector, call)
    settlement = attempt_settle(payment=payment, attempt=attempt, result=result, source="call")
    settlement_raise(settlement)
    return settlement.payment


def payment_capture(
    *, merchant_id: str, payment_id: str, amount_to_capture: int | None = None, livemode: bool = False
) -> Payment:
    """requires_capture -> processing -> succeeded. Captures at most ``amount_capturable``; the rest is released."""
    amount_to_capture = amount_to_capture_checked(amount_to_capture)
    payment = sync_unresolved_first(payment_get(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode))
    with transaction.atomic(durable=True):
        order, payment = payment_lock_with_order(payment=payment)
        if not transition_allowed(payment.status, "capture"):
            raise payment_unexpected_state(payment, "capture")
        amount = payment.amount_capturable if amount_to_capture is None else amount_to_capture
        if amount > payment.amount_capturable:
            raise InvalidRequest(
                f"amount_to_capture ({amount}) exceeds amount_capturable ({payment.amount_capturable}).",
                code="amount_too_large",
                param="amount_to_capture",
            )
        # The processor's own currency rules (e.g. no fraction of an ariary at Stripe), before any call.
        processor_amount_check(
            processor=payment.processor, amount=amount, currency=payment.currency, param="amount_to_capture"
        )
        if order is not None and amount > order_outstanding(order=order):
            # Refused before any money moves (e.g. the order was canceled while authorized).
            raise Conflict(
                f"Order {order.id} can no longer take {amount} (status '{order.status}'); cancel this payment instead.",
                code="order_not_payable",
                param="order",
            )
        attempt = _follow_up_begin(payment, operation=Op.CAPTURE, action="capture", amount=amount)
        idempotency_recovery_point(object_type="payment", object_id=payment.id, created=False)
    return _follow_up_call(
        payment=payment,
        attempt=attempt,
        call=lambda c: c.capture(
            reference=attempt.id,
            processor_reference=payment.processor_reference,
            amount=amount,
            currency=payment.currency,
        ),
    )


def payment_cancel(
    *, merchant_id: str, payment_id: str, cancellation_reason: str = "", livemode: bool = False
) -> Payment:
    """Before any processor holds money: canceled at once. With an authorization or a redirect
    in progress: the processor voids it first (processing -> canceled)."""
    cancellation_reason = cancellation_reason_checked(cancellation_reason)
    sync_unresolved_first(payment_get(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode))
    with transaction.atomic(durable=True):
        payment = payment_lock(payment_id=payment_id, merchant_id=merchant_id, livemode=livemode)
        payment.cancellation_reason = cancellation_reason
        if transition_allowed(payment.status, "cancel") or transition_allowed(payment.status, "void"):
            idempotency_recovery_point(object_type="payment", object_id=payment.id, created=False)
        if transition_allowed(payment.status, "cancel"):
            return _canceled_at_once(payment)
        if not transition_allowed(payment.status, "void"):
            raise payment_unexpected_state(payment, "cancel")
        attempt = _follow_up_begin(payment, operation=Op.VOID, action="void", amount=payment.amount_capturable)
    return _follow_up_call(
        payment=payment,
        attempt=attempt,
        call=lambda c: c.void(reference=attempt.id, processor_reference=payment.processor_reference),
    )


def _canceled_at_once(payment: Payment) -> Payment:
    event_type = payment_move(payment, "cancel")
    payment.canceled_at = timezone.now()
    payment.next_action = None
    payment.save()
    method_after_use(payment)
    payment_changed(payment, event_type)
    return payment


def payment_complete(*, payment_id: str) -> Payment:
    """The customer's browser is back from 3-D Secure / PayPal: ask the processor to finish.

    Never trusts anything the browser brings; the processor's answer decides. Declines are not
    raised (the browser gets a page), they leave the payment retryable as usual.
    """
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.PROCESSING:
        return sync_unresolved_first(payment)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    with transaction.atomic(durable=True):
        payment = payment_lock(payment_id=payment_id)
        if not transition_allowed(payment.status, "complete"):
            return payment  # a concurrent return is completing it
        attempt = _follow_up_begin(payment, operation=Op.COMPLETE, action="complete", amount=payment.amount)
    connector = connector_for(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
    result = complete_call(payment=payment, attempt=attempt, connector=connector)
    return attempt_settle(payment=payment, attempt=attempt, result=result, source="call").payment
