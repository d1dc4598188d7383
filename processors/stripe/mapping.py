"""Stripe's answers as ``ProcessorResult``s: PaymentIntents, Refunds and errors, by Stripe's
documented semantics. The HTTP status -> outcome rule itself is ``processors.http``'s."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..base import AuthorizeRequest, CardDetails, Outcome, ProcessorResult
from ..currencies import CurrencyRefused
from ..http import PROCESSOR_ERROR, REQUEST_IN_PROGRESS, Reply, error_status_outcome
from .currencies import STRIPE_CURRENCIES

# Our reference, stored on every object we create, so one whose reply was lost can be found again.
REFERENCE_METADATA_KEY = "gateway_reference"

# Stripe's documented test PaymentMethods for its test card numbers (card_mode="test_tokens").
TEST_PAYMENT_METHODS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_visa_chargeDeclined",
    "4000000000009995": "pm_card_visa_chargeDeclinedInsufficientFunds",
    "4000000000009987": "pm_card_visa_chargeDeclinedLostCard",
    "4000000000009979": "pm_card_visa_chargeDeclinedStolenCard",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000127": "pm_card_chargeDeclinedIncorrectCvc",
    "4000000000000119": "pm_card_chargeDeclinedProcessingError",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
}


def payment_method_create_params(card: CardDetails) -> dict[str, Any]:
    """``POST /v1/payment_methods`` (``PostPaymentMethods``) of a card: raw card data, for accounts
    enabled for it. The CVC goes in this one call and nowhere else."""
    return {
        "type": "card",
        "card": {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc or None,
        },
        "billing_details": {"name": card.holder_name or None},
    }


def stripe_test_payment_method(card: CardDetails) -> str | ProcessorResult:
    """``card_mode="test_tokens"``: Stripe's test PaymentMethod for a documented test card number."""
    token = TEST_PAYMENT_METHODS.get(card.number)
    if token is None:
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            error_code="test_card_unsupported",
            decline_code="generic_decline",
            message="card_mode=test_tokens accepts only Stripe's documented test card numbers",
        )
    return token


def payment_intent_create_params(request: AuthorizeRequest, *, payment_method: str, amount: int) -> dict[str, Any]:
    """The confirming ``POST /v1/payment_intents`` (``PostPaymentIntents``) of a card authorization
    with a PaymentMethod id; ``amount`` is already in Stripe's units for the currency."""
    return {
        "amount": amount,
        "currency": request.currency.lower(),
        "confirm": True,
        "capture_method": "automatic" if request.capture else "manual",
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "return_url": request.return_url or None,
        "description": request.description or None,
        "metadata": {**dict(list(request.metadata.items())[:40]), REFERENCE_METADATA_KEY: request.reference},
    }


def iso_amount(wire: Any, currency: Any) -> int | None:
    """A Stripe amount as ISO minor units, or None if it cannot be read exactly (never rounded)."""
    try:
        return STRIPE_CURRENCIES.from_wire(int(wire or 0), str(currency or ""))
    except (ValueError, TypeError, KeyError, CurrencyRefused):
        return None


def failure_of(reply: Reply | ProcessorResult) -> ProcessorResult | None:
    """The result of a reply that brought no object (a transport failure, an error answer), or None."""
    if isinstance(reply, ProcessorResult):
        return reply
    if reply.status >= 300 or not isinstance(reply.body, dict):
        return error_result(reply)
    return None


def answer(reply: Reply | ProcessorResult, parse: Callable[[dict[str, Any]], ProcessorResult]) -> ProcessorResult:
    """A reply's result: its failure (``failure_of``), else its object read by ``parse``."""
    return failure_of(reply) or parse(reply.body)


def error_result(reply: Reply) -> ProcessorResult:
    """Stripe's error object, read by its documented semantics. An error that embeds the
    PaymentIntent (``payment_intent_unexpected_state``...) reports where the intent stands: that
    state decides (marked ``extra["embedded_intent"]``), not the error's HTTP status."""
    error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
    message = error.get("message") or f"Stripe answered {reply.status}"
    code = error.get("code")
    intent = error.get("payment_intent") if isinstance(error.get("payment_intent"), dict) else None
    reference = intent.get("id") if intent else None
    extra = {"http_status": reply.status, "stripe_error_type": error.get("type"), "stripe_error_code": code}
    if reply.status == 402 or error.get("type") == "card_error":
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            processor_reference=reference,
            decline_code=error.get("decline_code") or code or "generic_decline",
            error_code=code or "card_declined",
            message=message,
            raw_status=intent.get("status") if intent else None,
            extra=extra,
        )
    if error.get("type") == "idempotency_error" or reply.status == 409:
        # Same key with other parameters, or a concurrent request holding the key: the
        # original call may have been processed.
        return ProcessorResult(
            outcome=Outcome.UNKNOWN,
            error_code=REQUEST_IN_PROGRESS if reply.status == 409 else "idempotency_conflict",
            message=message,
            extra=extra,
        )
    if intent is not None and reply.status < 500:
        state = intent_result(intent)
        return replace(state, message=message, extra={**state.extra, **extra, "embedded_intent": True})
    outcome, error_code = error_status_outcome(reply.status)
    if outcome is Outcome.DECLINED:
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            processor_reference=reference,
            error_code=code or "invalid_request",
            message=message,
            extra=extra,
        )
    if error_code == PROCESSOR_ERROR:
        # Stripe documents a 5xx as indeterminate (and stores it under the key, so a retry
        # replays it with Idempotent-Replayed: true). Only a status query can tell.
        extra["idempotent_replayed"] = reply.headers.get("Idempotent-Replayed") == "true"
    return ProcessorResult(outcome=outcome, error_code=error_code, message=message, extra=extra)


AUTHENTICATION_UNSUPPORTED = "authentication_unsupported"


def _unreadable(common: dict[str, Any]) -> ProcessorResult:
    # An amount ISO cannot hold exactly (e.g. fractional ISK charged before 2023): ask again,
    # and after the schedule an operator decides; never rounded.
    return ProcessorResult(
        outcome=Outcome.UNKNOWN,
        error_code="amount_unreadable",
        message="Stripe reported an amount this currency cannot hold exactly",
        **common,
    )


def intent_result(intent: dict[str, Any]) -> ProcessorResult:
    """A PaymentIntent's state, its amounts in ISO minor units."""
    status = intent.get("status")
    currency = intent.get("currency")
    common = {"processor_reference": intent.get("id"), "raw_status": status}
    amount, received, capturable = (
        iso_amount(intent.get(field), currency) for field in ("amount", "amount_received", "amount_capturable")
    )
    if status == "succeeded":
        if amount is None or received is None:
            return _unreadable(common)
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=amount, amount_captured=received, **common)
    if status == "requires_capture":
        if amount is None or capturable is None:
            return _unreadable(common)
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=capturable or amount, **common)
    if status == "requires_action":
        return _requires_action_result(intent.get("next_action") or {}, common)
    if status == "processing":
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    if status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            decline_code=error.get("decline_code") or error.get("code") or "generic_decline",
            error_code=error.get("code") or "card_declined",
            message=error.get("message"),
            **common,
        )
    if status == "canceled":
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            error_code="canceled",
            message=f"canceled ({intent.get('cancellation_reason') or 'requested'})",
            extra={"canceled": True},
            **common,
        )
    # requires_confirmation: never confirmed, so nothing moved.
    return ProcessorResult(outcome=Outcome.FAILED, error_code="not_confirmed", **common)


def _requires_action_result(next_action: dict[str, Any], common: dict[str, Any]) -> ProcessorResult:
    """The customer must act. We confirm server-side with a ``return_url``, for which Stripe
    documents ``next_action.type = redirect_to_url`` (its ``url`` is where the customer goes).
    ``use_stripe_sdk`` is documented as "only intended to be used by Stripe.js": a server-side
    integration cannot perform it and has no URL to send the customer to, so the payment cannot
    go on. Nothing is authorized while an intent waits for its action: a decline
    (``authentication_unsupported``, the payment stays retryable), never a requires_action with
    no way out."""
    redirect = next_action.get("redirect_to_url") if next_action.get("type") == "redirect_to_url" else None
    url = redirect.get("url") if isinstance(redirect, dict) else None
    if url:
        return ProcessorResult(outcome=Outcome.REQUIRES_ACTION, redirect_url=url, **common)
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code=AUTHENTICATION_UNSUPPORTED,
        decline_code=AUTHENTICATION_UNSUPPORTED,
        message=(
            f"Stripe asked for a customer action this integration cannot perform "
            f"(next_action {next_action.get('type') or 'without a type'}; only redirect_to_url is supported)"
        ),
        extra={"next_action_type": next_action.get("type")},
        **common,
    )


def refund_result(refund: dict[str, Any]) -> ProcessorResult:
    """A Refund's state, its amount in ISO minor units."""
    status = refund.get("status")
    common = {
        "processor_reference": refund.get("id"),
        "raw_status": status,
        "extra": {"payment_intent": refund.get("payment_intent")},
    }
    if status == "succeeded":
        amount = iso_amount(refund.get("amount"), refund.get("currency"))
        if amount is None:
            return _unreadable(common)
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=amount, **common)
    if status in ("pending", "requires_action"):
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code="refund_failed",
        decline_code=refund.get("failure_reason"),
        message=f"refund {status}",
        **common,
    )


def gateway_reference(obj: dict[str, Any]) -> str | None:
    """Our own id (``metadata[gateway_reference]``) on a Stripe object, if it carries one."""
    metadata = obj.get("metadata")
    ours = metadata.get(REFERENCE_METADATA_KEY) if isinstance(metadata, dict) else None
    return ours if isinstance(ours, str) and ours else None
