"""Merchant-initiated payments with a saved card (``POST /v1/payments`` with ``off_session: true``):
the customer is not there, so a card that asks for authentication (3-D Secure) cannot be
completed. Such a payment is canceled at once (the processor's pending authentication is voided)
and the answer is a 402 ``authentication_required``: bring the customer back on session."""

from typing import Any

from ..errors import InvalidInput, PaymentDeclined
from ..inputs import payment_method_parse
from ..models import PaymentMethod, PaymentStatus
from ..serializers import payment_data
from .confirmation import payment_create
from .follow_ups import payment_cancel


def payment_create_off_session(**params: Any):
    """``payment_create`` for a customer who is not present; the same keyword arguments."""
    if not params.get("confirm"):
        raise InvalidInput("off_session needs confirm: true.", code="parameter_invalid", param="off_session")
    method = payment_method_parse(params.get("payment_method"))
    reusable = (
        method is not None
        and method.type == "saved"
        and PaymentMethod.objects.filter(
            merchant_id=params["merchant_id"],
            livemode=params.get("livemode", False),
            pk=method.payment_method_id,
            customer__isnull=False,
            detached_at__isnull=True,
        ).exists()
    )
    if not reusable:
        raise InvalidInput(
            "off_session payments use a payment method saved for the customer (pm_...).",
            code="parameter_invalid",
            param="payment_method",
        )
    payment = payment_create(**params)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    payment = payment_cancel(
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        cancellation_reason="abandoned",
        livemode=payment.livemode,
    )
    raise PaymentDeclined(
        "This card asks for authentication, which needs the customer: bring them back on session to pay.",
        code="authentication_required",
        param="payment_method",
        extra={"decline_code": "authentication_required", "payment": payment_data(payment)},
    )
