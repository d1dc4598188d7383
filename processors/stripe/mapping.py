"""Stripe's answers as ``ProcessorResult``s: PaymentIntents, Refunds and errors, by Stripe's
documented semantics. The HTTP status -> outcome rule itself is ``processors.http``'s."""

from collections.abc import Callable
from typing import Any

from ..base import AuthorizeRequest, Outcome, ProcessorResult
from ..http import PROCESSOR_ERROR, Reply, error_status_outcome

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


def payment_intent_create_params(
    request: AuthorizeRequest, *, card_mode: str | None
) -> dict[str, Any] | ProcessorResult:
    """The confirming ``POST /v1/payment_intents`` of a card authorization, or the result that
    refuses it. The card goes as ``payment_method_data[card]`` (raw card data, for accounts
    enabled for it), or with ``card_mode="test_tokens"`` as Stripe's test PaymentMethod."""
    card = request.card
    assert card is not None
    data: dict[str, Any] = {
        "amount": request.amount,
        "currency": request.currency.lower(),
        "confirm": True,
        "capture_method": "automatic" if request.capture else "manual",
        "payment_method_types": ["card"],
        "return_url": request.return_url or None,
        "description": request.description or None,
        "metadata": {**dict(list(request.metadata.items())[:40]), REFERENCE_METADATA_KEY: request.reference},
    }
    if card_mode == "test_tokens":
        token = TEST_PAYMENT_METHODS.get(card.number)
        if token is None:
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                error_code="test_card_unsupported",
                decline_code="generic_decline",
                message="card_mode=test_tokens accepts only Stripe's documented test card numbers",
            )
        data["payment_method"] = token
        return data
    data["payment_method_data"] = {
        "type": "card",
        "card": {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc or None,
        },
        "billing_details": {"name": card.holder_name or None},
    }
    return data


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
    """Stripe's error object, read by its documented semantics."""
    error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
    message = error.get("message") or f"Stripe answered {reply.status}"
    code = error.get("code")
    intent = error.get("payment_intent") if isinstance(error.get("payment_intent"), dict) else None
    reference = intent.get("id") if intent else None
    extra = {"http_status": reply.status, "stripe_error_type": error.get("type")}
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
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="idempotency_conflict", message=message, extra=extra)
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


def intent_result(intent: dict[str, Any]) -> ProcessorResult:
    """A PaymentIntent's state."""
    status = intent.get("status")
    amount = int(intent.get("amount") or 0)
    received = int(intent.get("amount_received") or 0)
    capturable = int(intent.get("amount_capturable") or 0)
    common = {"processor_reference": intent.get("id"), "raw_status": status}
    if status == "succeeded":
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=amount, amount_captured=received, **common)
    if status == "requires_capture":
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=capturable or amount, **common)
    if status == "requires_action":
        next_action = intent.get("next_action") or {}
        url = (next_action.get("redirect_to_url") or {}).get("url")
        return ProcessorResult(outcome=Outcome.REQUIRES_ACTION, redirect_url=url, **common)
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


def refund_result(refund: dict[str, Any]) -> ProcessorResult:
    """A Refund's state."""
    status = refund.get("status")
    common = {
        "processor_reference": refund.get("id"),
        "raw_status": status,
        "extra": {"payment_intent": refund.get("payment_intent")},
    }
    if status == "succeeded":
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=int(refund.get("amount") or 0), **common)
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
