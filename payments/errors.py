"""Errors the payments API answers with, beyond the gateway's own (``gateway.errors``)."""

from collections.abc import Callable
from typing import Any

from gateway.errors import API, CARD, ApiError, Conflict, InvalidRequest


class PaymentDeclined(ApiError):
    status_code = 402
    error_type = CARD
    code = "card_declined"
    default_message = "The payment was declined."


class ProcessorUnavailable(ApiError):
    status_code = 503
    error_type = API
    code = "processor_unavailable"
    default_message = "No payment processor could take the request; nothing was charged. Retry later."


class ProcessorRefused(Conflict):
    code = "processor_refused"


class InvalidInput(InvalidRequest):
    """Refused on the request alone, before anything executed (the API then keeps no idempotency key)."""


def input_checked(check: Callable[..., Any], *args, **kwargs) -> Any:
    """Run a validator of the request's own values; its 400 becomes an ``InvalidInput``."""
    try:
        return check(*args, **kwargs)
    except InvalidInput:
        raise
    except InvalidRequest as exc:
        raise InvalidInput(exc.message, code=exc.code, param=exc.param) from None
