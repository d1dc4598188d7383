"""Creating and confirming a payment: the authorization, tried along the merchant's route.

Step 1 (``transaction.atomic(durable=True)``) locks the order, checks the transition, writes the
attempt and moves the payment to ``processing``, and commits; step 2 calls the route's first
processor; a provably failed call (``Outcome.FAILED``) records its attempt as failed and starts a
new one on the next processor; step 3 settles the last answer.
"""

import logging

from django.db import transaction

from customers.selectors import customer_get
from events.services import events_record
from gateway.context import current_idempotency_key
from gateway.errors import Conflict, InvalidRequest, NotFound, not_found
from gateway.idempotency import idempotency_recovery_point
from gateway.statements import rows_insert
from orders.selectors import order_outstanding
from processors.base import AuthorizeRequest, CardDetails, Outcome, ProcessorResult
from processors.selectors import RouteEntry, route_for

from ..errors import ProcessorUnavailable
from ..inputs import MethodInput, payment_create_input, payment_method_parse, payment_return_url, return_url_validate
from ..locks import order_lock, payment_lock, payment_lock_with_order
from ..models import (
    ORDER_BLOCKING_STATUSES,
    AttemptOperation,
    AttemptStatus,
    CaptureMethod,
    Payment,
    PaymentAttempt,
    PaymentMethodType,
)
from ..outcomes import Resolution
from ..selectors import payment_get
from ..serializers import payment_data
from ..state import payment_transition, payment_unexpected_state, transition_allowed
from .attempts import attempt_new, inflight_deadline, processor_call
from .changes import payment_changed, payment_save_changed, payment_snapshot
from .methods import method_use
from .settlement import attempt_fields, attempt_settle, settlement_raise

logger = logging.getLogger("payments")

Op = AttemptOperation


def payment_create(
    *,
    merchant_id: str,
    amount: int | None = None,
    currency: str | None = None,
    capture_method: str = CaptureMethod.AUTOMATIC,
    order_id: str | None = None,
    customer_id: str | None = None,
    payment_method: object = None,
    confirm: bool = False,
    save_payment_method: bool = False,
    return_url: str = "",
    description: str = "",
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> Payment:
    """Create a payment; with ``confirm`` and a payment method, confirm it in the same call.

    With an order, amount and currency default to (and must equal) its outstanding total, and the
    customer defaults to the order's. Raises ``PaymentDeclined`` (402, the payment stays
    retryable), ``ProcessorUnavailable`` (503) after the payment itself was committed.
    """
    given = payment_create_input(
        amount=amount,
        currency=currency,
        capture_method=capture_method,
        order_id=order_id,
        customer_id=customer_id,
        payment_method=payment_method,
        confirm=confirm,
        save_payment_method=save_payment_method,
        return_url=return_url,
    )
    if customer_id:
        _customer_checked(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
    # Durable when a processor call follows (it must commit first); a payment created without
    # confirming may be made inside a caller's transaction (checkout links it to its session).
    with transaction.atomic(durable=confirm):
        order = order_lock(merchant_id=merchant_id, order_id=order_id, livemode=livemode) if order_id else None
        payment = _payment_new(
            merchant_id=merchant_id,
            livemode=livemode,
            order=order,
            customer_id=customer_id,
            amount=given.amount,
            currency=given.currency,
            capture_method=capture_method,
            description=description,
            metadata=metadata,
            return_url=return_url,
            save_payment_method=save_payment_method,
        )
        if given.method is not None and not confirm:
            method_use(payment, given.method, vault_card=True)
            payment_transition(payment, "attach_method")
        created_status = payment.status
        attempt = card = route = None
        if confirm:
            attempt, card, route = _confirm_begin(payment=payment, method=given.method)
        rows_insert([payment])
        # Same transaction: a retry of this request answers this payment, and a presumed-dead
        # execution that is in fact still running cannot commit a second one (409 here).
        idempotency_recovery_point(object_type="payment", object_id=payment.id, created=True)
        # One serialization for both events of a confirming create, one INSERT for both rows. No
        # cache rotation: nothing of a payment that did not exist can have been cached.
        data = payment_data(payment)
        events = [
            ("payment.created", data | {"status": created_status, "last_payment_error": None, "next_action": None})
        ]
        if attempt is not None:
            rows_insert([attempt])
            events.append(("payment.processing", data))
        events_record(merchant_id=merchant_id, livemode=livemode, events=events)
    if attempt is None:
        return payment
    return _authorize(payment=payment, attempt=attempt, route=route, card=card)


def _payment_new(
    *,
    merchant_id: str,
    livemode: bool,
    order,
    customer_id: str | None,
    amount: int | None,
    currency: str | None,
    capture_method: str,
    description: str,
    metadata: dict[str, str] | None,
    return_url: str,
    save_payment_method: bool,
) -> Payment:
    """The unsaved payment: with an order (locked), its customer and, by default, its outstanding
    total in its currency; the order must be payable by exactly that."""
    if order is not None:
        if customer_id and customer_id != order.customer_id:
            raise InvalidRequest("customer must be the order's customer.", code="parameter_invalid", param="customer")
        customer_id = order.customer_id
        currency = currency or order.currency
        amount = order_outstanding(order=order) if amount is None else amount
    if amount is None:
        raise InvalidRequest("amount is required.", code="parameter_missing", param="amount")
    if currency is None:
        raise InvalidRequest("currency is required.", code="parameter_missing", param="currency")
    payment = Payment(
        merchant_id=merchant_id,
        livemode=livemode,
        amount=amount,
        currency=currency,
        capture_method=capture_method,
        order_id=order.id if order is not None else None,
        customer_id=customer_id or None,
        description=description,
        metadata=metadata or {},
        return_url=return_url,
        save_payment_method=save_payment_method,
        idempotency_key=current_idempotency_key() or "",
    )
    if order is not None:
        _order_check(order=order, payment=payment)
    return payment


def payment_confirm(
    *,
    merchant_id: str,
    payment_id: str,
    payment_method: object = None,
    save_payment_method: bool | None = None,
    return_url: str | None = None,
    livemode: bool = False,
) -> Payment:
    """requires_payment_method | requires_confirmation -> processing -> the processor's answer."""
    method = payment_method_parse(payment_method)
    if return_url:
        return_url_validate(return_url)
    payment = payment_get(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode)
    with transaction.atomic(durable=True):
        order, payment = payment_lock_with_order(payment=payment)
        before = payment_snapshot(payment)
        if not transition_allowed(payment.status, "confirm"):
            raise payment_unexpected_state(payment, "confirm")
        if order is not None:
            _order_check(order=order, payment=payment)
        if return_url:
            payment.return_url = return_url
        if save_payment_method is not None:
            payment.save_payment_method = save_payment_method
        attempt, card, route = _confirm_begin(payment=payment, method=method)
        payment_save_changed(payment, before)
        rows_insert([attempt])
        idempotency_recovery_point(object_type="payment", object_id=payment.id, created=False)
        payment_changed(payment, "payment.processing")
    return _authorize(payment=payment, attempt=attempt, route=route, card=card)


def _customer_checked(*, merchant_id: str, customer_id: str, livemode: bool):
    try:
        customer = customer_get(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
    except NotFound:
        raise not_found("customer", customer_id, param="customer") from None
    if customer.is_erased:
        raise InvalidRequest("This customer's data was erased.", code="customer_erased", param="customer")
    return customer


def _order_check(*, order, payment: Payment) -> None:
    """With an order: the payment must be for exactly what is outstanding, and the only one in flight."""
    outstanding = order_outstanding(order=order)
    if outstanding <= 0:
        raise Conflict(
            f"Order {order.id} has nothing outstanding (status '{order.status}').",
            code="order_not_payable",
            param="order",
        )
    if payment.currency != order.currency:
        raise InvalidRequest(
            f"currency must be the order's currency ({order.currency}).", code="currency_mismatch", param="currency"
        )
    if payment.amount != outstanding:
        raise InvalidRequest(
            f"amount ({payment.amount}) must equal the order's outstanding total ({outstanding}).",
            code="amount_mismatch",
            param="amount",
        )
    other = (
        Payment.objects.filter(merchant_id=payment.merchant_id, order_id=order.id, status__in=ORDER_BLOCKING_STATUSES)
        .exclude(pk=payment.pk)
        .values_list("id", flat=True)
        .first()
    )
    if other is not None:
        raise Conflict(
            f"Another payment for this order is in progress ({other}).", code="order_payment_in_progress", param="order"
        )


def _confirm_begin(
    *, payment: Payment, method: MethodInput | None
) -> tuple[PaymentAttempt, CardDetails | None, list[RouteEntry]]:
    """Step 1 of a confirmation (inside the caller's transaction, payment locked or new)."""
    if not transition_allowed(payment.status, "confirm"):
        raise payment_unexpected_state(payment, "confirm")
    card = method_use(payment, method, vault_card=False)
    # Processors that cannot take this amount of this currency exactly are skipped; none left for
    # that reason: their 400, raised before anything is written or called (the transaction rolls back).
    route = route_for(
        merchant_id=payment.merchant_id,
        payment_method_type=payment.payment_method_type,
        currency=payment.currency,
        livemode=payment.livemode,
        amount=payment.amount,
    )
    if not route:
        raise ProcessorUnavailable(
            f"No processor is configured for {payment.payment_method_type} in {payment.currency}."
        )
    first = route[0]
    attempt = attempt_new(
        payment, operation=Op.AUTHORIZE, account_id=first.account_id, processor=first.processor, amount=payment.amount
    )
    payment_transition(payment, "confirm")
    payment.last_payment_error = None
    payment.next_action = None
    return attempt, card, route


def _authorize_request(*, payment: Payment, attempt: PaymentAttempt, card: CardDetails | None) -> AuthorizeRequest:
    return AuthorizeRequest(
        reference=attempt.id,
        amount=payment.amount,
        currency=payment.currency,
        capture=payment.capture_method == CaptureMethod.AUTOMATIC,
        payment_method_type=payment.payment_method_type,
        return_url=payment_return_url(payment.id),
        card=card if payment.payment_method_type == PaymentMethodType.CARD else None,
        merchant_id=payment.merchant_id,
        description=payment.description,
        metadata=dict(payment.metadata or {}),
    )


def _authorize(
    *, payment: Payment, attempt: PaymentAttempt, route: list[RouteEntry], card: CardDetails | None
) -> Payment:
    """Steps 2 and 3 of a confirmation: try the route in order while calls provably fail."""
    index = 0
    while True:
        request = _authorize_request(payment=payment, attempt=attempt, card=card)
        result = processor_call(attempt.id, route[index].connector, lambda c, r=request: c.authorize(r))
        if result.outcome != Outcome.FAILED or index + 1 >= len(route):
            break
        index += 1
        following = _attempt_fail_over(payment=payment, failed=attempt, result=result, entry=route[index])
        if following is None:
            break
        attempt = following
    settlement = attempt_settle(payment=payment, attempt=attempt, result=result, source="call")
    settlement_raise(settlement)
    return settlement.payment


def _attempt_fail_over(
    *, payment: Payment, failed: PaymentAttempt, result: ProcessorResult, entry: RouteEntry
) -> PaymentAttempt | None:
    """Record the provably failed attempt and start one on the next processor of the route
    (committed before that processor is called, like any step 1)."""
    with transaction.atomic(durable=True):
        payment_lock(payment_id=payment.id)
        fields = attempt_fields(failed, result, Resolution.NOT_PROCESSED, "call")
        if not PaymentAttempt.objects.filter(pk=failed.id, status=AttemptStatus.STARTED).update(**fields):
            return None
        following = PaymentAttempt(
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            operation=Op.AUTHORIZE,
            origin_status=failed.origin_status,
            processor=entry.processor,
            processor_account_id=entry.account_id,
            amount=payment.amount,
            next_sync_at=inflight_deadline(),
        )
        following.save(force_insert=True)
        logger.info(
            "processor unavailable; falling back to the next route",
            extra={"payment_id": payment.id, "failed_account": failed.processor_account_id, "next": entry.account_id},
        )
        return following
