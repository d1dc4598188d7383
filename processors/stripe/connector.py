"""The Stripe connector: the ``Connector`` interface over PaymentIntents and Refunds.

Card data: by default the card is sent as ``payment_method_data[card][number|exp_month|exp_year|cvc]``
on the confirming create call. Stripe accepts raw card data only on accounts enabled for it (a
PCI-DSS level 1 gateway such as this one); an account in Stripe's test mode without that access
can set ``card_mode="test_tokens"`` to send Stripe's documented test PaymentMethods
(``pm_card_visa`` ...) for the documented test card numbers instead.

Our reference is also stored as ``metadata[gateway_reference]`` so a charge whose reply was lost
can be found again with ``GET /v1/payment_intents/search``.
"""

from typing import Any

from ..base import AuthorizeRequest, Connector, Outcome, ProcessorResult, WebhookEvent
from ..http import NOT_FOUND
from ..registry import register
from .client import StripeClient
from .mapping import (
    REFERENCE_METADATA_KEY,
    answer,
    failure_of,
    intent_result,
    payment_intent_create_params,
    refund_result,
)
from .webhooks import stripe_webhook_parse

_REFUND_LIST_MAX_PAGES = 10
_REFUND_LIST_PAGE_SIZE = 100


def _search_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@register
class StripeConnector(Connector):
    name = "stripe"

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
        data = payment_intent_create_params(request, card_mode=self.config.get("card_mode"))
        if isinstance(data, ProcessorResult):
            return data
        return answer(self.client.post("/v1/payment_intents", data, idempotency_key=request.reference), intent_result)

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
        reply = self.client.post(
            f"/v1/payment_intents/{processor_reference}/capture",
            {"amount_to_capture": amount},
            idempotency_key=reference,
        )
        return answer(reply, intent_result)

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        reply = self.client.post(f"/v1/payment_intents/{processor_reference}/cancel", {}, idempotency_key=reference)
        result = answer(reply, intent_result)
        if result.raw_status == "canceled":
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status="canceled"
            )
        return result

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        reply = self.client.post(
            "/v1/refunds",
            {"payment_intent": processor_reference, "amount": amount, "metadata": {REFERENCE_METADATA_KEY: reference}},
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
        self, *, reference: str, processor_refund_reference: str | None, processor_reference: str | None = None
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
