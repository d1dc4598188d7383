"""Parsing and checking what a request asks of the payments app, before anything executes.

Every refusal here is an ``InvalidInput`` (or an ``InvalidRequest`` a view turns into one): a
400 naming the parameter, raised before any row is written, so the idempotency layer keeps no
key. Nothing here touches the database.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from gateway.errors import InvalidRequest
from gateway.ids import looks_like_id
from gateway.money import amount_validate, currency_validate

from .cards import ValidatedCard, card_validate
from .errors import InvalidInput, input_checked
from .models import CaptureMethod, PaymentMethodType, RefundReason

CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
_METHOD_KEYS = ("type", "card")
_CARD_KEYS = ("number", "exp_month", "exp_year", "cvc")


# --- payment method -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodInput:
    """A parsed ``payment_method`` parameter. Holds the validated card (with CVC) in memory only."""

    type: str  # card | paypal | saved
    card: ValidatedCard | None = None
    payment_method_id: str | None = None

    def __repr__(self) -> str:
        return f"MethodInput({self.type}, {self.payment_method_id or ''})"

    __str__ = __repr__


def payment_method_parse(value: object, *, param: str = "payment_method") -> MethodInput | None:
    """``"pm_..."`` | ``{"type": "card", "card": {...}}`` | ``{"type": "paypal"}`` -> MethodInput.

    Card failures are 400s naming the field (``payment_method.card.number``...). No message ever
    repeats what was sent: it may be a card number.
    """
    return input_checked(_payment_method_parse, value, param=param)


def _payment_method_parse(value: object, *, param: str) -> MethodInput | None:
    if value is None or isinstance(value, MethodInput):
        return value
    if isinstance(value, str):
        return _saved_method_parse(value, param=param)
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"{param} must be a pm_ id or an object with a type.", code="parameter_invalid", param=param
        )
    if any(key not in _METHOD_KEYS for key in value):
        raise InvalidRequest(f"Received unknown parameter in {param}.", code="parameter_unknown", param=param)
    kind = value.get("type")
    if kind == PaymentMethodType.PAYPAL:
        if "card" in value:
            raise InvalidRequest(
                "A paypal payment method takes no card.", code="parameter_unknown", param=f"{param}.card"
            )
        return MethodInput("paypal")
    if kind == PaymentMethodType.CARD:
        return MethodInput("card", card=_card_parse(value.get("card"), param=f"{param}.card"))
    raise InvalidRequest(f"{param}.type must be card or paypal.", code="parameter_invalid", param=f"{param}.type")


def _saved_method_parse(value: str, *, param: str) -> MethodInput:
    if not looks_like_id(value, "pm"):
        raise InvalidRequest(
            f"{param} must be the id of a saved payment method (pm_...) or an object with a type.",
            code="resource_missing",
            param=param,
        )
    return MethodInput("saved", payment_method_id=value)


def _card_parse(card: object, *, param: str) -> ValidatedCard:
    if not isinstance(card, dict):
        raise InvalidRequest(f"{param} is required for a card.", code="parameter_missing", param=param)
    if any(key not in _CARD_KEYS for key in card):
        raise InvalidRequest(f"Received unknown parameter in {param}.", code="parameter_unknown", param=param)
    return card_validate(
        number=card.get("number"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        cvc=card.get("cvc"),
        param_prefix=param,
    )


# --- return URLs ----------------------------------------------------------------------------------


def payment_return_url(payment_id: str) -> str:
    """Where the processor sends the customer's browser back (our return endpoint)."""
    return f"{settings.PAYMENTS_PUBLIC_BASE_URL.rstrip('/')}/v1/payments/{payment_id}/return"


def return_url_validate(value: str) -> str:
    """The merchant's ``return_url``: an absolute http(s) URL."""
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("return_url must be an absolute http(s) URL.", code="parameter_invalid", param="return_url")
    return value


# --- the operations' own parameters ---------------------------------------------------------------


@dataclass(frozen=True)
class CreateInput:
    method: MethodInput | None
    amount: int | None  # None: the order's outstanding total
    currency: str | None  # None: the order's currency


def payment_create_input(
    *,
    amount: int | None,
    currency: str | None,
    capture_method: str,
    order_id: str | None,
    customer_id: str | None,
    payment_method: object,
    confirm: bool,
    save_payment_method: bool,
    return_url: str,
) -> CreateInput:
    """The parameters of ``payment_create`` that can be refused on the request alone."""
    method = payment_method_parse(payment_method)
    if confirm and method is None:
        raise InvalidInput("confirm needs a payment_method.", code="parameter_missing", param="payment_method")
    if capture_method not in CaptureMethod.values:
        raise InvalidInput(
            "capture_method must be automatic or manual.", code="parameter_invalid", param="capture_method"
        )
    if amount is not None:
        amount = input_checked(amount_validate, amount, minimum=1)
    if currency is not None:
        currency = input_checked(currency_validate, currency)
    if return_url:
        return_url_validate(return_url)
    if not order_id:
        if amount is None:
            raise InvalidInput("amount is required.", code="parameter_missing", param="amount")
        if currency is None:
            raise InvalidInput("currency is required.", code="parameter_missing", param="currency")
        if save_payment_method and not customer_id:
            raise InvalidInput("save_payment_method needs a customer.", code="parameter_missing", param="customer")
    return CreateInput(method=method, amount=amount, currency=currency)


def amount_to_capture_checked(value: Any) -> int | None:
    if value is None:
        return None
    return input_checked(amount_validate, value, param="amount_to_capture", minimum=1)


def cancellation_reason_checked(value: str) -> str:
    if value and value not in CANCELLATION_REASONS:
        raise InvalidInput(
            f"cancellation_reason must be one of: {', '.join(CANCELLATION_REASONS)}.",
            code="parameter_invalid",
            param="cancellation_reason",
        )
    return value


def refund_input_checked(*, amount: Any, reason: str) -> int | None:
    """A refund's ``amount`` (None: the rest) and ``reason``, as the request gives them."""
    if amount is not None:
        amount = input_checked(amount_validate, amount, minimum=1)
    if reason and reason not in RefundReason.values:
        raise InvalidInput(
            f"reason must be one of: {', '.join(RefundReason.values)}.", code="parameter_invalid", param="reason"
        )
    return amount
