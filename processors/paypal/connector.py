"""The PayPal connector: the ``Connector`` interface over Orders v2 and Payments v2.

* Amounts: exact decimal strings from minor units (``gateway.money.to_decimal_string``).
* The payment's ``processor_reference`` is always the order id; authorization, capture and
  refund ids are looked up from the order when needed.
* Creating an order moves no money (only the buyer's approval and our capture do), so any
  failure of the create call, even an ambiguous one, is FAILED: an orphan order the buyer never
  saw simply expires, and falling back to another processor is safe.
"""

from typing import Any

from gateway.money import to_decimal_string

from ..base import AuthorizeRequest, Connector, Outcome, ProcessorResult, WebhookEvent
from ..http import NOT_FOUND, Reply
from ..registry import register
from .client import PayPalClient
from .mapping import capture_result, error_result, issue_of, order_result, refund_result
from .webhooks import paypal_webhook_parse

# Answers to complete() that mean "look at the order instead": it was finished already, or the
# buyer still has to act.
_COMPLETE_SEE_ORDER = ("ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED", "PAYER_ACTION_REQUIRED")


def _order_create_body(request: AuthorizeRequest) -> dict[str, Any]:
    unit: dict[str, Any] = {
        "reference_id": "default",
        "custom_id": request.reference,
        "amount": {"currency_code": request.currency, "value": to_decimal_string(request.amount, request.currency)},
    }
    if request.description:
        unit["description"] = request.description[:127]
    return {
        "intent": "CAPTURE" if request.capture else "AUTHORIZE",
        "purchase_units": [unit],
        "payment_source": {
            "paypal": {
                "experience_context": {
                    "return_url": request.return_url,
                    "cancel_url": request.return_url,
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                }
            }
        },
    }


def _money(amount: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": to_decimal_string(amount, currency)}


@register
class PayPalConnector(Connector):
    name = "paypal"

    @property
    def client(self) -> PayPalClient:
        return PayPalClient(account_id=self.account_id, config=self.config)

    def _order(self, order_id: str) -> dict[str, Any] | ProcessorResult:
        reply = self.client.read(f"/v2/checkout/orders/{order_id}")
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status != 200 or not isinstance(reply.body, dict):
            return error_result(reply, money_may_move=False)
        return reply.body

    def _order_state(self, order_id: str) -> ProcessorResult:
        order = self._order(order_id)
        return order if isinstance(order, ProcessorResult) else order_result(order)

    @staticmethod
    def _written(reply: Reply | ProcessorResult, parse) -> ProcessorResult | None:
        """A transport failure as it is, a 200/201 object by ``parse``; None for an error answer."""
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            return parse(reply.body)
        return None

    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        if request.payment_method_type != "paypal":
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="payment_method_unsupported",
                message="this PayPal account is routed for PayPal payments only",
            )
        reply = self.client.call(
            "POST", "/v2/checkout/orders", body=_order_create_body(request), request_id=request.reference
        )
        if isinstance(reply, ProcessorResult):
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        if reply.status not in (200, 201) or not isinstance(reply.body, dict):
            return error_result(reply, money_may_move=False)
        result = order_result(reply.body)
        if result.outcome is Outcome.REQUIRES_ACTION and not result.redirect_url:
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code="invalid_response", message="PayPal order without an approve link"
            )
        return result

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        action = "capture" if capture else "authorize"
        reply = self.client.call(
            "POST", f"/v2/checkout/orders/{processor_reference}/{action}", body={}, request_id=reference
        )
        written = self._written(reply, order_result)
        if written is not None:
            return written
        if issue_of(reply.body) in _COMPLETE_SEE_ORDER:
            return self._order_state(processor_reference)
        return error_result(reply)

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        authorization_id = order_result(order).extra.get("authorization_id")
        if not authorization_id:
            return ProcessorResult(
                outcome=Outcome.DECLINED, error_code="not_authorized", message="the order holds no authorization"
            )
        reply = self.client.call(
            "POST",
            f"/v2/payments/authorizations/{authorization_id}/capture",
            body={"amount": _money(amount, currency), "final_capture": True},
            request_id=reference,
        )
        written = self._written(reply, lambda body: capture_result(body, processor_reference))
        if written is not None:
            return written
        if issue_of(reply.body) == "AUTHORIZATION_ALREADY_CAPTURED":
            return self._order_state(processor_reference)
        return error_result(reply)

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        state = order_result(order)
        authorization_id = state.extra.get("authorization_id")
        if state.extra.get("capture_ids"):
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                processor_reference=processor_reference,
                error_code="already_captured",
                message="a captured PayPal payment is refunded, not voided",
            )
        if authorization_id and state.outcome is Outcome.SUCCEEDED:
            reply = self.client.call(
                "POST", f"/v2/payments/authorizations/{authorization_id}/void", request_id=reference
            )
            if isinstance(reply, ProcessorResult):
                return reply
            if reply.status not in (200, 204) and issue_of(reply.body) != "AUTHORIZATION_ALREADY_VOIDED":
                return error_result(reply)
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status="VOIDED"
            )
        # Not approved/authorized yet: nothing is held at PayPal; the order expires on its own.
        return ProcessorResult(
            outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status=state.raw_status
        )

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        capture_ids = [c for c in order_result(order).extra.get("capture_ids") or [] if c]
        if not capture_ids:
            return ProcessorResult(outcome=Outcome.DECLINED, error_code="not_captured", message="nothing was captured")
        reply = self.client.call(
            "POST",
            f"/v2/payments/captures/{capture_ids[-1]}/refund",
            body={"amount": _money(amount, currency), "custom_id": reference},
            request_id=reference,
        )
        return self._written(reply, refund_result) or error_result(reply)

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        if not processor_reference:
            # The order id never reached us, so no buyer can have been sent to approve it.
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=NOT_FOUND, message="no PayPal order was handed to a buyer"
            )
        return self._order_state(processor_reference)

    def refund_status(
        self, *, reference: str, processor_refund_reference: str | None, processor_reference: str | None = None
    ) -> ProcessorResult:
        if not processor_refund_reference:
            return ProcessorResult(
                outcome=Outcome.UNKNOWN,
                error_code="reference_required",
                message="PayPal cannot find a refund by our reference: repeat refund() with the same reference",
            )
        reply = self.client.read(f"/v2/payments/refunds/{processor_refund_reference}")
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status != 200 or not isinstance(reply.body, dict):
            return error_result(reply, money_may_move=False)
        return refund_result(reply.body)

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        return paypal_webhook_parse(client=self.client, config=self.config, headers=headers, body=body)
