"""The Stripe connector: the ``Connector`` interface over PaymentMethods, PaymentIntents and Refunds.

Card data: by default (raw card data, for accounts Stripe enabled for it, such as this PCI-DSS
level 1 gateway) the card becomes a PaymentMethod first (``POST /v1/payment_methods``
``type=card``, ``card[number|exp_month|exp_year|cvc]``), then the confirming
``POST /v1/payment_intents`` names it (``payment_method=pm_...``), as Stripe's API defines it.
An account in Stripe's test mode without raw card data access sets ``card_mode="test_tokens"``
to send Stripe's documented test PaymentMethods (``pm_card_visa`` ...) instead.

Idempotency: every POST carries an ``Idempotency-Key`` derived from our reference and distinct
per endpoint (Stripe refuses a key reused on another endpoint): the PaymentIntent's is the
reference itself, the PaymentMethod's ``<reference>:payment_method``. A PaymentMethod moves no
money, so a PaymentMethod call that fails in any way, even ambiguously, is FAILED (nothing was
charged; the PaymentIntent was never asked for). A retry with the same reference replays both.

Amounts are converted to Stripe's units for the currency (``currencies.STRIPE_CURRENCIES``) and
back, exactly; what Stripe cannot take is refused before any call.

Our reference is also stored as ``metadata[gateway_reference]`` so a charge whose reply was lost
can be found again with ``GET /v1/payment_intents/search``.
"""

from datetime import datetime
from typing import Any

from ..base import (
    AuthorizeRequest,
    Connector,
    DisputeInfo,
    DisputeLookupError,
    Outcome,
    ProcessorResult,
    SettlementPayout,
    SettlementReport,
    WebhookEvent,
)
from ..currencies import CurrencyRefused
from ..http import NOT_FOUND
from ..registry import register
from .client import StripeClient
from .currencies import STRIPE_CURRENCIES
from .disputes import stripe_dispute_info
from .mapping import (
    AUTHENTICATION_UNSUPPORTED,
    REFERENCE_METADATA_KEY,
    answer,
    failure_of,
    intent_result,
    payment_intent_create_params,
    payment_method_create_params,
    refund_result,
    stripe_test_payment_method,
)
from .settlement import stripe_payout, stripe_settlement_report
from .webhooks import stripe_webhook_parse

_REFUND_LIST_MAX_PAGES = 10
_REFUND_LIST_PAGE_SIZE = 100


def _search_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _refused(refused: CurrencyRefused) -> ProcessorResult:
    # Never sent: the payments app checks the same table first, so this is a last line of defence.
    return ProcessorResult(outcome=Outcome.FAILED, error_code=refused.code, message=refused.message)


@register
class StripeConnector(Connector):
    name = "stripe"
    currencies = STRIPE_CURRENCIES

    @property
    def client(self) -> StripeClient:
        return StripeClient(self.config)

    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        if request.payment_method_type != "card" or request.card is None:
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="payment_method_unsupported",
                message="this Stripe account is routed for cards only",
            )
        if not request.return_url:
            # Without a return_url Stripe answers 3-D Secure with next_action use_stripe_sdk,
            # which only Stripe.js can perform: refuse the configuration before any call.
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="return_url_required",
                message="Stripe confirmation needs a return_url",
            )
        try:
            amount = STRIPE_CURRENCIES.to_wire(request.amount, request.currency)
        except CurrencyRefused as refused:
            return _refused(refused)
        if self.config.get("card_mode") == "test_tokens":
            payment_method = stripe_test_payment_method(request.card)
        else:
            payment_method = self._payment_method_create(request)
        if isinstance(payment_method, ProcessorResult):
            return payment_method
        data = payment_intent_create_params(request, payment_method=payment_method, amount=amount)
        result = answer(self.client.post("/v1/payment_intents", data, idempotency_key=request.reference), intent_result)
        if result.error_code == AUTHENTICATION_UNSUPPORTED and result.processor_reference:
            self._abandon(reference=request.reference, intent_id=result.processor_reference)
        return result

    def _payment_method_create(self, request: AuthorizeRequest) -> str | ProcessorResult:
        """The card as a PaymentMethod (its id), or the result that ends the authorization. Only a
        refusal of the card itself (402 ``card_error``: an incorrect number...) is a decline; any
        other failure is FAILED: a PaymentMethod moves no money and no PaymentIntent was created."""
        assert request.card is not None
        reply = self.client.post(
            "/v1/payment_methods",
            payment_method_create_params(request.card),
            idempotency_key=f"{request.reference}:payment_method",
        )
        failure = failure_of(reply)
        if failure is None and isinstance(reply.body.get("id"), str):
            return reply.body["id"]
        card_refused = failure is not None and (
            failure.extra.get("stripe_error_type") == "card_error" or failure.extra.get("http_status") == 402
        )
        if card_refused:
            return failure
        failure = failure or ProcessorResult(outcome=Outcome.FAILED, error_code="invalid_response")
        return ProcessorResult(
            outcome=Outcome.FAILED,
            error_code=failure.error_code,
            message=f"Stripe PaymentMethod not created, nothing charged: {failure.message or failure.error_code}",
            extra=failure.extra,
        )

    def _abandon(self, *, reference: str, intent_id: str) -> None:
        """Cancel an intent that waits for an action we cannot perform, so nobody can finish it
        later. Best effort: an intent waiting for its action holds nothing."""
        self.client.post(
            f"/v1/payment_intents/{intent_id}/cancel",
            {"cancellation_reason": "abandoned"},
            idempotency_key=f"{reference}:cancel",
        )

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        """After 3-D Secure: Stripe has already moved the intent on; confirm only if it waits for us."""
        result = answer(self.client.get(f"/v1/payment_intents/{processor_reference}"), intent_result)
        if result.outcome is Outcome.UNKNOWN:
            # A read moves no money: not knowing its answer means nothing happened yet.
            return ProcessorResult(outcome=Outcome.FAILED, error_code=result.error_code, message=result.message)
        if result.raw_status == "requires_confirmation":
            return answer(
                self.client.post(f"/v1/payment_intents/{processor_reference}/confirm", {}, idempotency_key=reference),
                intent_result,
            )
        return result

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        try:
            wire = STRIPE_CURRENCIES.to_wire(amount, currency)
        except CurrencyRefused as refused:
            return _refused(refused)
        reply = self.client.post(
            f"/v1/payment_intents/{processor_reference}/capture",
            {"amount_to_capture": wire},
            idempotency_key=reference,
        )
        result = answer(reply, intent_result)
        if result.extra.get("embedded_intent") and result.raw_status != "succeeded":
            # The intent is not (or no longer) capturable: our capture did not happen.
            return _state_refusal(result, "capture")
        return result

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        reply = self.client.post(f"/v1/payment_intents/{processor_reference}/cancel", {}, idempotency_key=reference)
        result = answer(reply, intent_result)
        if result.raw_status == "canceled":
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status="canceled"
            )
        if result.extra.get("embedded_intent"):
            # Stripe refused the cancel and says where the intent stands (e.g. succeeded: the
            # money was captured): the void did not happen.
            return _state_refusal(result, "cancel")
        return result

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        try:
            wire = STRIPE_CURRENCIES.to_wire(amount, currency)
        except CurrencyRefused as refused:
            return _refused(refused)
        reply = self.client.post(
            "/v1/refunds",
            {"payment_intent": processor_reference, "amount": wire, "metadata": {REFERENCE_METADATA_KEY: reference}},
            idempotency_key=reference,
        )
        return answer(reply, refund_result)

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        """The PaymentIntent's state. Without its id, search by ``metadata[gateway_reference]``.

        Stripe's search index trails writes (documented as "under a minute", longer during
        outages), so its not-found is marked ``extra["lookup"] = "search"``: the payments app
        trusts it only from a scheduled sync, well after the call.
        """
        if processor_reference:
            return answer(self.client.get(f"/v1/payment_intents/{processor_reference}"), intent_result)
        reply = self.client.get(
            "/v1/payment_intents/search",
            {"query": f"metadata[{_search_literal(REFERENCE_METADATA_KEY)}]:{_search_literal(reference)}"},
        )
        return answer(reply, _search_result)

    def refund_status(
        self,
        *,
        reference: str,
        processor_refund_reference: str | None,
        processor_reference: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> ProcessorResult:
        if processor_refund_reference:
            return answer(self.client.get(f"/v1/refunds/{processor_refund_reference}"), refund_result)
        # Refunds have no search; the list, filtered by the PaymentIntent, is strongly consistent.
        # Unfiltered (no PaymentIntent id) or cut short, a miss proves nothing: UNKNOWN, never not_found.
        if not processor_reference:
            return ProcessorResult(
                outcome=Outcome.UNKNOWN,
                error_code="refund_lookup_inconclusive",
                message="Without the PaymentIntent id Stripe's refunds cannot be searched exhaustively",
            )
        return self._refund_in_list(reference=reference, payment_intent=processor_reference)

    def _refund_in_list(self, *, reference: str, payment_intent: str) -> ProcessorResult:
        params: dict[str, Any] = {"payment_intent": payment_intent, "limit": _REFUND_LIST_PAGE_SIZE}
        for _ in range(_REFUND_LIST_MAX_PAGES):
            reply = self.client.get("/v1/refunds", params)
            failure = failure_of(reply)
            if failure is not None:
                return failure
            refunds = reply.body.get("data") or []
            for refund in refunds:
                if (refund.get("metadata") or {}).get(REFERENCE_METADATA_KEY) == reference:
                    return refund_result(refund)
            if not reply.body.get("has_more") or not refunds:
                return ProcessorResult(
                    outcome=Outcome.FAILED, error_code=NOT_FOUND, message="Stripe has no such refund"
                )
            params["starting_after"] = refunds[-1]["id"]
        return ProcessorResult(
            outcome=Outcome.UNKNOWN,
            error_code="refund_lookup_inconclusive",
            message="The PaymentIntent's refund list was not exhausted within the page limit",
        )

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        return stripe_webhook_parse(config=self.config, headers=headers, body=body)

    def dispute(self, *, processor_dispute_reference: str) -> DisputeInfo:
        reply = self.client.get(f"/v1/disputes/{processor_dispute_reference}")
        if isinstance(reply, ProcessorResult) or reply.status != 200:
            status = getattr(reply, "status", None) or getattr(reply, "error_code", "")
            raise DisputeLookupError(f"Stripe did not return dispute {processor_dispute_reference} ({status})")
        return stripe_dispute_info(reply.body)

    def settlement_report(self, *, start: datetime, end: datetime) -> SettlementReport:
        return stripe_settlement_report(self.client, start=start, end=end)

    def payout(self, *, payout_id: str, created: datetime | None = None) -> SettlementPayout:
        return stripe_payout(self.client, payout_id=payout_id)


def _state_refusal(state: ProcessorResult, action: str) -> ProcessorResult:
    """Stripe refused our capture/cancel with the intent embedded: the operation did not happen."""
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        processor_reference=state.processor_reference,
        error_code=state.extra.get("stripe_error_code") or "payment_intent_unexpected_state",
        decline_code=state.raw_status,
        message=f"Stripe refused the {action}: the PaymentIntent is {state.raw_status}",
        raw_status=state.raw_status,
        extra=state.extra,
    )


def _search_result(body: dict[str, Any]) -> ProcessorResult:
    found = body.get("data") or []
    if not found:
        # The search index trails writes: the payments app weighs this "not found" accordingly.
        return ProcessorResult(
            outcome=Outcome.FAILED,
            error_code=NOT_FOUND,
            message="Stripe's search has no PaymentIntent for this reference",
            extra={"lookup": "search"},
        )
    return intent_result(found[0])
