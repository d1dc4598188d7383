"""What the hosted page does when the customer pays: one payment per session, confirmed with
whatever the customer chose, through payments' public services.

``checkout_pay`` runs in three steps, like every processor call of the gateway:

1. under the session's row lock (``checkout/locks.py``): the session must be open and not past
   its expiry; its payment is created if it has none (``payment_create``, without confirming) and
   linked one-to-one; commit. A second submit (another tab, a double click, the back button)
   waits for that lock and then finds the same payment;
2. ``payment_confirm`` with the card, saved card or PayPal, outside any checkout lock: payments'
   state machine lets exactly one confirmation of that payment run at a time, and none once it
   succeeded, so a session can never be paid twice;
3. ``checkout_session_sync`` reads the payment and completes the session if it succeeded.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.errors import ApiError, Conflict, InvalidRequest
from payments.selectors import payment_get
from payments.services import PaymentDeclined, ProcessorUnavailable, payment_confirm, payment_create

from .locks import checkout_session_lock
from .models import CheckoutSession, SessionStatus
from .services import (
    PAID_PAYMENT_STATUSES,
    checkout_session_enqueue_sync,
    checkout_session_sync,
    redirect_url_for,
)

logger = logging.getLogger("checkout")

# What the customer reads for a decline, by the processor's error code; anything else gets the
# processor's own (customer-facing) message, or the generic one.
DECLINE_MESSAGES = {
    "authentication_required": (
        "Your bank could not authenticate this payment. Try again or use another payment method."
    ),
    "payment_method_canceled": "The PayPal payment was cancelled. Choose a payment method to continue.",
}
GENERIC_DECLINE = "Your payment was declined. Try another card or payment method."
UNAVAILABLE = "We could not reach the payment processor. Nothing was charged; please try again."
NOT_PAYABLE = "This payment can no longer be made here. Please return to the merchant."


@dataclass(frozen=True)
class PayOutcome:
    """Where the customer goes next.

    ``kind``: complete (redirect to success_url) | redirect (3-D Secure or PayPal page) |
    processing (follow the status) | declined | invalid (a field is wrong; ``param``) |
    unavailable | failed (no more tries) | closed (the session is no longer open).
    """

    kind: str
    session: CheckoutSession
    redirect_url: str | None = None
    message: str = ""
    param: str | None = None


def payment_return_url(session_id: str) -> str:
    return f"{settings.CHECKOUT_PUBLIC_BASE_URL.rstrip('/')}/pay/{session_id}/return"


def decline_message(error: dict | None) -> str:
    error = error or {}
    known = DECLINE_MESSAGES.get(error.get("code") or "") or DECLINE_MESSAGES.get(error.get("decline_code") or "")
    return known or error.get("message") or GENERIC_DECLINE


def _session_payment(*, session_id: str, customer_id: str | None) -> tuple[CheckoutSession, str | None]:
    """Step 1: the session's one payment, created on the first submit under the session lock."""
    with transaction.atomic():
        session = checkout_session_lock(session_id=session_id)
        if not session.is_open or session.expires_at <= timezone.now():
            return session, None
        if session.payment_id:
            return session, session.payment_id
        payment = payment_create(
            merchant_id=session.merchant_id,
            livemode=session.livemode,
            amount=session.amount_total,
            currency=session.currency,
            capture_method=session.capture_method,
            order_id=session.order_id,
            customer_id=session.customer_id or customer_id,
            return_url=payment_return_url(session.id),
            description=_description(session),
            metadata={"checkout_session": session.id},
        )
        session.payment_id = payment.id
        session.save(update_fields=["payment", "updated"])
        return session, payment.id


def _description(session: CheckoutSession) -> str:
    names = [item["description"] for item in session.line_items[:3]]
    return ", ".join(names)[:500]


def checkout_pay(
    *,
    session_id: str,
    payment_method: object,
    method_type: str,
    customer_id: str | None = None,
    save_payment_method: bool = False,
) -> PayOutcome:
    """Pay the session with ``payment_method`` (a card dict, a parsed method, ``"pm_..."`` or
    ``{"type": "paypal"}``); ``method_type`` is card or paypal (a saved card is a card)."""
    session = CheckoutSession.objects.get(pk=session_id)
    if method_type not in session.payment_method_types:
        return PayOutcome("invalid", session, message="This payment method is not available here.", param="method")
    try:
        session, payment_id = _session_payment(session_id=session_id, customer_id=customer_id)
    except (Conflict, InvalidRequest) as exc:
        logger.info("checkout session payment not created", extra={"code": exc.code})
        return PayOutcome("failed", session, message=NOT_PAYABLE)
    if payment_id is None:
        return checkout_outcome(checkout_session_sync(session_id=session_id))
    failure: PayOutcome | None = None
    try:
        payment_confirm(
            merchant_id=session.merchant_id,
            payment_id=payment_id,
            payment_method=payment_method,
            save_payment_method=save_payment_method if method_type == "card" else False,
            return_url=payment_return_url(session.id),
            livemode=session.livemode,
        )
    except PaymentDeclined:
        pass  # the payment is back in requires_payment_method with its last_payment_error
    except ProcessorUnavailable:
        failure = PayOutcome("unavailable", session, message=UNAVAILABLE)
    except Conflict as exc:
        # Another tab or a double click is confirming (or confirmed) the same payment: follow it.
        logger.info("checkout confirm refused", extra={"code": exc.code, "payment_id": payment_id})
    except InvalidRequest as exc:
        return PayOutcome("invalid", session, message=exc.message, param=exc.param)
    except ApiError as exc:
        logger.warning("checkout confirm failed", extra={"code": exc.code, "payment_id": payment_id})
        failure = PayOutcome("unavailable", session, message=UNAVAILABLE)
    session = checkout_session_sync(session_id=session_id)
    outcome = checkout_outcome(session)
    if outcome.kind == "processing":
        checkout_session_enqueue_sync(session_id=session_id)
    if failure is not None and outcome.kind == "declined":
        return failure
    return outcome


def checkout_outcome(session: CheckoutSession) -> PayOutcome:
    """Where the customer stands now (after a submit, a return from a redirect, a status poll)."""
    if session.status == SessionStatus.COMPLETE:
        return PayOutcome(
            "complete", session, redirect_url=redirect_url_for(session.success_url, session_id=session.id)
        )
    if session.status == SessionStatus.EXPIRED:
        return PayOutcome("closed", session)
    if not session.payment_id:
        return PayOutcome("open", session)
    payment = payment_get(merchant_id=session.merchant_id, payment_id=session.payment_id, livemode=session.livemode)
    if payment.status == "requires_action":
        url = ((payment.next_action or {}).get("redirect_to_url") or {}).get("url")
        return PayOutcome("redirect", session, redirect_url=url)
    if payment.status == "processing":
        return PayOutcome("processing", session)
    if payment.status in PAID_PAYMENT_STATUSES:
        # Paid after the caller's sync read it (another tab's confirmation finished in between):
        # never the form again; the page's next poll or refresh syncs and completes the session.
        return PayOutcome("processing", session)
    if payment.status in ("failed", "canceled"):
        return PayOutcome("failed", session, message=NOT_PAYABLE)
    if payment.last_payment_error:
        if payment.last_payment_error.get("code") == "processor_unavailable":
            return PayOutcome("unavailable", session, message=UNAVAILABLE)
        return PayOutcome("declined", session, message=decline_message(payment.last_payment_error))
    return PayOutcome("open", session)
