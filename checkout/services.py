"""Writes of the checkout app: create a session, follow its payment, complete or expire it.

The session's payment is created and confirmed by ``checkout.pay`` through payments' public
services; this module only ever *reads* the payment (``payments.selectors.payment_get``) and
moves the session by the state table (``checkout/state.py``). Locks: ``checkout/locks.py``.
"""

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.selectors import customer_get
from events.services import event_record
from gateway.errors import ApiError, Conflict, InvalidRequest, NotFound, not_found
from gateway.money import amount_validate, currency_validate
from orders.selectors import order_get, order_outstanding
from payments.selectors import payment_get
from payments.services import payment_cancel
from processors.selectors import route_for

from .formatting import locale_parse
from .locks import checkout_session_lock
from .models import CheckoutSession, SessionPaymentStatus, SessionStatus
from .serializers import PAYMENT_METHOD_TYPES, session_data
from .state import EVENT_FOR_STATUS, session_transition, session_unexpected_state

logger = logging.getLogger("checkout")

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# What the session's payment status means for the session.
PAID_PAYMENT_STATUSES = {"succeeded": SessionPaymentStatus.PAID, "requires_capture": SessionPaymentStatus.AUTHORIZED}
IN_FLIGHT_PAYMENT_STATUSES = frozenset({"processing", "requires_action"})
# A payment in one of these can be canceled (no money held, or a redirect to abandon) before expiring.
CANCELABLE_PAYMENT_STATUSES = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
FINISHED_UNPAID_STATUSES = frozenset({"canceled", "failed"})
MAX_LINE_ITEMS = 100


class InvalidInput(InvalidRequest):
    """Refused on the request alone, before anything executed (the API then keeps no idempotency key)."""


def _now() -> datetime:
    return timezone.now()


# --- input ----------------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_url_validate(value: str, *, param: str, livemode: bool) -> str:
    """https with a host; http only to loopback and only in test mode (a developer's machine)."""
    text = value if isinstance(value, str) else ""
    if not text or any(ch.isspace() or ord(ch) < 32 for ch in text) or len(text) > 2000:
        raise InvalidInput(f"{param} must be an absolute https URL.", code="url_invalid", param=param)
    parts = urlsplit(text.replace(SESSION_ID_PLACEHOLDER, "cs"))
    host = parts.hostname or ""
    if parts.username or parts.password or not host:
        raise InvalidInput(f"{param} must be an absolute https URL.", code="url_invalid", param=param)
    if parts.scheme == "https" or (parts.scheme == "http" and not livemode and _loopback(host)):
        return text
    raise InvalidInput(
        f"{param} must use https (http is accepted only for 127.0.0.1/localhost in test mode).",
        code="url_invalid",
        param=param,
    )


def redirect_url_for(url: str, *, session_id: str) -> str:
    return url.replace(SESSION_ID_PLACEHOLDER, session_id)


def _expires_at_validate(value: int | None, *, now: datetime) -> datetime:
    if value is None:
        return now + timedelta(seconds=settings.CHECKOUT_SESSION_MAX_SECONDS)
    earliest = now + timedelta(seconds=settings.CHECKOUT_SESSION_MIN_SECONDS)
    latest = now + timedelta(seconds=settings.CHECKOUT_SESSION_MAX_SECONDS)
    try:
        at = datetime.fromtimestamp(value, tz=now.tzinfo)
    except (OverflowError, OSError, ValueError):
        at = None
    # A few seconds of slack: the merchant computed "now + 30 min" a moment before we did.
    if at is None or not earliest - timedelta(seconds=60) <= at <= latest + timedelta(seconds=60):
        raise InvalidInput(
            "expires_at must be between 30 minutes and 24 hours from now (unix seconds).",
            code="parameter_invalid",
            param="expires_at",
        )
    return min(max(at, earliest), latest)


def _line_items_from(lines: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    lines = list(lines or [])
    if len(lines) > MAX_LINE_ITEMS:
        raise InvalidInput(
            f"line_items may have at most {MAX_LINE_ITEMS} lines.", code="parameter_invalid", param="line_items"
        )
    items = []
    for index, line in enumerate(lines):
        amount = line.get("amount")
        if amount is not None:
            amount_validate(amount, param=f"line_items[{index}].amount")
        items.append({"description": line["description"], "quantity": line.get("quantity", 1), "amount": amount})
    return items


def _order_line_items(order) -> list[dict[str, Any]]:
    items = [{"description": line.name, "quantity": line.quantity, "amount": line.amount} for line in order.lines.all()]
    if order.shipping_amount:
        items.append({"description": "Shipping", "quantity": 1, "amount": order.shipping_amount})
    if order.tax_amount:
        items.append({"description": "Tax", "quantity": 1, "amount": order.tax_amount})
    return items


def _available_method_types(*, merchant_id: str, currency: str, livemode: bool, amount: int) -> list[str]:
    """The payment method types some route of the merchant can take in this currency, this amount
    of it exactly (each processor's own currency rules: ``processors.currencies``)."""
    available = []
    for kind in PAYMENT_METHOD_TYPES:
        try:
            routed = route_for(
                merchant_id=merchant_id, payment_method_type=kind, currency=currency, livemode=livemode, amount=amount
            )
        except InvalidRequest:  # every processor routed for it refuses the currency or amount
            routed = []
        if routed:
            available.append(kind)
    return available


@dataclass(frozen=True)
class SessionParams:
    """A validated ``POST /v1/checkout/sessions``."""

    amount_total: int
    currency: str
    line_items: list[dict[str, Any]]
    order_id: str | None
    customer_id: str | None
    payment_method_types: list[str]
    capture_method: str
    success_url: str
    cancel_url: str
    expires_at: datetime
    metadata: dict[str, str]
    locale: str


def checkout_session_params(
    *,
    merchant_id: str,
    livemode: bool,
    success_url: str,
    cancel_url: str,
    order_id: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
    line_items: list[dict[str, Any]] | None = None,
    customer_id: str | None = None,
    payment_method_types: list[str] | None = None,
    capture_method: str = "automatic",
    expires_at: int | None = None,
    metadata: dict[str, str] | None = None,
    locale: str | None = None,
) -> SessionParams:
    """Check a session request completely, before anything is written (every failure is ``InvalidInput``
    or a 404/409 for the order or customer)."""
    now = _now()
    success_url = redirect_url_validate(success_url, param="success_url", livemode=livemode)
    cancel_url = redirect_url_validate(cancel_url, param="cancel_url", livemode=livemode)
    if capture_method not in ("automatic", "manual"):
        raise InvalidInput(
            "capture_method must be automatic or manual.", code="parameter_invalid", param="capture_method"
        )
    if locale and locale != "auto" and locale_parse(locale) is None:
        raise InvalidInput(f"locale {locale!r} is not a known locale.", code="parameter_invalid", param="locale")
    try:
        if order_id:
            if amount is not None or currency is not None:
                raise InvalidInput(
                    "With an order, the amount and currency are the order's; leave them out.",
                    code="parameter_invalid",
                    param="amount" if amount is not None else "currency",
                )
            try:
                order = order_get(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
            except NotFound:
                raise not_found("order", order_id, param="order") from None
            amount_total = order_outstanding(order=order)
            if amount_total <= 0:
                raise Conflict(
                    f"Order {order.id} has nothing outstanding (status '{order.status}').",
                    code="order_not_payable",
                    param="order",
                )
            if customer_id and customer_id != order.customer_id:
                raise InvalidInput("customer must be the order's customer.", code="parameter_invalid", param="customer")
            customer_id = order.customer_id
            currency = order.currency
            items = _line_items_from(line_items) if line_items else _order_line_items(order)
        else:
            if amount is None:
                raise InvalidInput("amount is required without an order.", code="parameter_missing", param="amount")
            if currency is None:
                raise InvalidInput("currency is required without an order.", code="parameter_missing", param="currency")
            amount_total = amount_validate(amount, minimum=1)
            currency = currency_validate(currency)
            items = _line_items_from(line_items)
            priced = [item["amount"] for item in items]
            if items and None not in priced and sum(priced) != amount_total:
                raise InvalidInput(
                    f"The line_items add up to {sum(priced)}, not amount ({amount_total}).",
                    code="amount_mismatch",
                    param="line_items",
                )
    except InvalidInput:
        raise
    except InvalidRequest as exc:
        raise InvalidInput(exc.message, code=exc.code, param=exc.param) from None
    if customer_id:
        try:
            customer = customer_get(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
        except NotFound:
            raise not_found("customer", customer_id, param="customer") from None
        if customer.is_erased:
            raise InvalidInput("This customer's data was erased.", code="customer_erased", param="customer")
    available = _available_method_types(
        merchant_id=merchant_id, currency=currency, livemode=livemode, amount=amount_total
    )
    if payment_method_types:
        types = list(dict.fromkeys(payment_method_types))
        missing = [kind for kind in types if kind not in available]
        if missing:
            raise InvalidInput(
                f"No processor route of this account takes {', '.join(missing)} in {currency}.",
                code="payment_method_unavailable",
                param="payment_method_types",
            )
    else:
        types = available
    if not types:
        raise InvalidInput(
            f"No processor route of this account takes {currency}.", code="payment_method_unavailable", param="currency"
        )
    return SessionParams(
        amount_total=amount_total,
        currency=currency,
        line_items=items,
        order_id=order_id or None,
        customer_id=customer_id or None,
        payment_method_types=types,
        capture_method=capture_method,
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=_expires_at_validate(expires_at, now=now),
        metadata=dict(metadata or {}),
        locale=locale or "auto",
    )


# --- life cycle -------------------------------------------------------------------------------------


def checkout_session_create(*, merchant_id: str, livemode: bool, params: SessionParams) -> CheckoutSession:
    return CheckoutSession.objects.create(
        merchant_id=merchant_id,
        livemode=livemode,
        amount_total=params.amount_total,
        currency=params.currency,
        line_items=params.line_items,
        order_id=params.order_id,
        customer_id=params.customer_id,
        payment_method_types=params.payment_method_types,
        capture_method=params.capture_method,
        success_url=params.success_url,
        cancel_url=params.cancel_url,
        expires_at=params.expires_at,
        metadata=params.metadata,
        locale=params.locale,
    )


def _record(session: CheckoutSession) -> None:
    event_record(
        merchant_id=session.merchant_id,
        type=EVENT_FOR_STATUS[session.status],
        data=session_data(session),
        livemode=session.livemode,
    )


def _payment_status(session: CheckoutSession) -> str | None:
    if not session.payment_id:
        return None
    return payment_get(merchant_id=session.merchant_id, payment_id=session.payment_id, livemode=session.livemode).status


def _complete_locked(session: CheckoutSession, payment_status: str) -> CheckoutSession:
    session_transition(session, "complete")
    session.payment_status = PAID_PAYMENT_STATUSES[payment_status]
    session.completed_at = _now()
    session.payment_pending = False
    session.save()
    _record(session)
    logger.info(
        "checkout session completed", extra={"checkout_session": session.id[:29], "payment_id": session.payment_id}
    )
    return session


def _complete(*, session_id: str) -> CheckoutSession:
    with transaction.atomic():
        session = checkout_session_lock(session_id=session_id)
        status = _payment_status(session)
        if session.is_open and status in PAID_PAYMENT_STATUSES:
            return _complete_locked(session, status)
        return session


def checkout_session_sync(*, session_id: str, now: datetime | None = None) -> CheckoutSession:
    """Bring an open session up to date with its payment (complete once it succeeded or is
    authorized) and with the clock (expired at ``expires_at``, once no payment can still succeed).
    Called on every read of the page, by its status endpoint, after each submit and by the sweep."""
    session = CheckoutSession.objects.filter(pk=session_id).first()
    if session is None:
        raise not_found("checkout_session", session_id)
    if not session.is_open:
        return session
    status = _payment_status(session)
    if status in PAID_PAYMENT_STATUSES:
        return _complete(session_id=session_id)
    pending = status in IN_FLIGHT_PAYMENT_STATUSES
    if session.payment_pending != pending:
        CheckoutSession.objects.filter(pk=session_id, status=SessionStatus.OPEN).update(
            payment_pending=pending, updated=_now()
        )
        session.payment_pending = pending
    if session.expires_at <= (now or _now()):
        return checkout_session_expire(session_id=session_id, requested=False)
    return session


def checkout_session_expire(
    *, session_id: str, merchant_id: str | None = None, livemode: bool | None = None, requested: bool = True
) -> CheckoutSession:
    """open -> expired, once the session's payment can no longer succeed: a payment that holds no
    money (or waits for the customer's redirect) is canceled first, outside any lock; one that
    succeeded meanwhile completes the session instead. ``requested`` (the API): anything else is a
    409; from the clock: the session stays open and the sweep tries again."""
    session = CheckoutSession.objects.filter(pk=session_id)
    if merchant_id is not None:
        session = session.filter(merchant_id=merchant_id, livemode=livemode)
    session = session.first()
    if session is None:
        raise not_found("checkout_session", session_id)
    if not session.is_open:
        if requested:
            raise session_unexpected_state(session, "expire")
        return session
    if _payment_status(session) in CANCELABLE_PAYMENT_STATUSES:
        try:
            payment_cancel(
                merchant_id=session.merchant_id,
                payment_id=session.payment_id,
                cancellation_reason="abandoned",
                livemode=session.livemode,
            )
        except ApiError as exc:  # e.g. confirmed meanwhile, or the void could not reach the processor
            logger.info(
                "checkout session payment not canceled", extra={"payment_id": session.payment_id, "code": exc.code}
            )
    with transaction.atomic():
        session = checkout_session_lock(session_id=session_id)
        if not session.is_open:
            if requested and session.status != SessionStatus.EXPIRED:
                raise session_unexpected_state(session, "expire")
            return session
        status = _payment_status(session)
        if status in PAID_PAYMENT_STATUSES:
            return _complete_locked(session, status)
        if status is not None and status not in FINISHED_UNPAID_STATUSES:
            if requested:
                raise Conflict(
                    f"The session's payment is '{status}'; it can expire once that payment is final.",
                    code="checkout_session_payment_in_progress",
                    extra={"payment_status": status},
                )
            return session
        session_transition(session, "expire")
        session.expired_at = _now()
        session.payment_pending = False
        session.save()
        _record(session)
        return session


def checkout_session_enqueue_sync(*, session_id: str) -> None:
    """After the caller's commit: follow the session's payment in the worker."""
    from .tasks import checkout_session_sync_task  # the tasks module imports this one

    transaction.on_commit(lambda: checkout_session_sync_task.delay(session_id), robust=True)
