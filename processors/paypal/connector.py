"""The PayPal connector: the ``Connector`` interface over Orders v2 and Payments v2.

* Amounts: exact decimal strings with PayPal's decimals for the currency
  (``currencies.PAYPAL_CURRENCIES``: HUF, JPY and TWD take none); what PayPal cannot take is
  refused before any call, never rounded.
* The payment's ``processor_reference`` is always the order id; authorization, capture and
  refund ids are looked up from the order when needed.
* Creating an order moves no money (only the buyer's approval and our capture do), so any
  failure of the create call, even an ambiguous one, is FAILED: an orphan order the buyer never
  saw simply expires, and falling back to another processor is safe.
* A 409 (``RESOURCE_CONFLICT`` / ``PREVIOUS_REQUEST_IN_PROGRESS``, documented for refunds and
  voids) means an earlier call on the resource is still running and may still succeed: UNKNOWN,
  resolved by asking again (``processors.http.error_status_outcome``).
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
    SettlementReport,
    WebhookEvent,
)
from ..currencies import CurrencyRefused
from ..http import NOT_FOUND, REQUEST_IN_PROGRESS, Reply
from ..registry import register
from .client import PayPalClient
from .currencies import PAYPAL_CURRENCIES
from .disputes import paypal_dispute_info
from .mapping import capture_result, error_result, issue_of, order_result, refund_result, refunds_of
from .settlement import paypal_settlement_report
from .webhooks import paypal_webhook_parse

# Answers to complete() that mean "look at the order instead": it was finished already, or the
# buyer still has to act.
_COMPLETE_SEE_ORDER = ("ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED", "PAYER_ACTION_REQUIRED")
# orders.capture 422: another capture of this order is still running; it may still succeed.
_COMPLETE_IN_PROGRESS = "ORDER_COMPLETION_IN_PROGRESS"
# authorizations.void 422 issues (Payments v2 spec): already voided is the void's goal met.
_VOID_ALREADY_VOIDED = "PREVIOUSLY_VOIDED"


def _money(amount: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency.upper(), "value": PAYPAL_CURRENCIES.to_decimal_string(amount, currency)}


def _order_create_body(request: AuthorizeRequest) -> dict[str, Any]:
    unit: dict[str, Any] = {
        "reference_id": "default",
        "custom_id": request.reference,
        "amount": _money(request.amount, request.currency),
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


def _refused(refused: CurrencyRefused) -> ProcessorResult:
    # Never sent: the payments app checks the same table first, so this is a last line of defence.
    return ProcessorResult(outcome=Outcome.FAILED, error_code=refused.code, message=refused.message)


def _in_progress(reply: Reply, what: str) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.UNKNOWN,
        error_code=REQUEST_IN_PROGRESS,
        message=f"PayPal: an earlier {what} is still in progress",
        extra={"http_status": reply.status, "paypal_issue": issue_of(reply.body)},
    )


@register
class PayPalConnector(Connector):
    name = "paypal"
    currencies = PAYPAL_CURRENCIES

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
        try:
            body = _order_create_body(request)
        except CurrencyRefused as refused:
            return _refused(refused)
        reply = self.client.call("POST", "/v2/checkout/orders", body=body, request_id=request.reference)
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
        issue = issue_of(reply.body)
        if issue in _COMPLETE_SEE_ORDER:
            return self._order_state(processor_reference)
        if issue == _COMPLETE_IN_PROGRESS:
            return _in_progress(reply, f"{action} of this order")
        return error_result(reply)

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        try:
            money = _money(amount, currency)
        except CurrencyRefused as refused:
            return _refused(refused)
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
            body={"amount": money, "final_capture": True},
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
        authorization_status = state.extra.get("authorization_status")
        if state.extra.get("capture_ids") or authorization_status in ("CAPTURED", "PARTIALLY_CAPTURED"):
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                processor_reference=processor_reference,
                error_code="already_captured",
                message="a captured PayPal payment is refunded, not voided",
            )
        if authorization_id and authorization_status == "CREATED":
            return self._void_authorization(
                reference=reference, order_id=processor_reference, authorization_id=authorization_id
            )
        if authorization_status == "PENDING" or state.outcome is Outcome.UNKNOWN:
            # PayPal still decides on the authorization, or the order is in a state we do not know.
            return ProcessorResult(
                outcome=Outcome.UNKNOWN,
                processor_reference=processor_reference,
                error_code=state.error_code or "authorization_undecided",
                message=f"PayPal order {state.raw_status}: the void cannot be decided yet",
            )
        # Voided, denied or expired already, or never approved/authorized: nothing is held at
        # PayPal (an unapproved order expires on its own).
        return ProcessorResult(
            outcome=Outcome.SUCCEEDED,
            processor_reference=processor_reference,
            raw_status="VOIDED" if authorization_status == "VOIDED" else (authorization_status or state.raw_status),
        )

    def _void_authorization(self, *, reference: str, order_id: str, authorization_id: str) -> ProcessorResult:
        # authorizations.void documents no PayPal-Request-Id; it is sent anyway (harmless) and a
        # repeat after an unknown outcome is safe: 422 PREVIOUSLY_VOIDED means it happened.
        reply = self.client.call("POST", f"/v2/payments/authorizations/{authorization_id}/void", request_id=reference)
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status in (200, 204) or issue_of(reply.body) == _VOID_ALREADY_VOIDED:
            return ProcessorResult(outcome=Outcome.SUCCEEDED, processor_reference=order_id, raw_status="VOIDED")
        return error_result(reply)

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        try:
            money = _money(amount, currency)
        except CurrencyRefused as refused:
            return _refused(refused)
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        return self._refund_post(reference=reference, order=order, money=money)

    def _refund_post(self, *, reference: str, order: dict[str, Any], money: dict[str, str]) -> ProcessorResult:
        capture_ids = [c for c in order_result(order).extra.get("capture_ids") or [] if c]
        if not capture_ids:
            return ProcessorResult(outcome=Outcome.DECLINED, error_code="not_captured", message="nothing was captured")
        reply = self.client.call(
            "POST",
            f"/v2/payments/captures/{capture_ids[-1]}/refund",
            body={"amount": money, "custom_id": reference},
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
        self,
        *,
        reference: str,
        processor_refund_reference: str | None,
        processor_reference: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> ProcessorResult:
        """By the refund id; without it, among the order's refunds by our ``custom_id``; if the
        order lists none, the refund is repeated under the same ``PayPal-Request-Id``: PayPal
        replays it if it happened (keys are kept 45 days), answers 409 while it is still running
        (UNKNOWN), and makes it now if it never arrived (it is the refund the merchant asked for,
        its amount reserved). Never a "not found": a refund in flight is not listed yet."""
        if processor_refund_reference:
            reply = self.client.read(f"/v2/payments/refunds/{processor_refund_reference}")
            if isinstance(reply, ProcessorResult):
                return reply
            if reply.status != 200 or not isinstance(reply.body, dict):
                return error_result(reply, money_may_move=False)
            return refund_result(reply.body)
        if not processor_reference:
            return _refund_unresolved("the PayPal order of this refund is not known")
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return ProcessorResult(outcome=Outcome.UNKNOWN, error_code=order.error_code, message=order.message)
        listed = [r for r in refunds_of(order) if r.get("custom_id") == reference]
        if listed:
            return refund_result(listed[-1])
        if amount is None or not currency:
            return _refund_unresolved("repeat refund() with the same reference")
        try:
            money = _money(amount, currency)
        except CurrencyRefused as refused:
            return _refused(refused)
        return self._refund_post(reference=reference, order=order, money=money)

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        return paypal_webhook_parse(client=self.client, config=self.config, headers=headers, body=body)

    def dispute(self, *, processor_dispute_reference: str) -> DisputeInfo:
        reply = self.client.call("GET", f"/v1/customer/disputes/{processor_dispute_reference}")
        if isinstance(reply, ProcessorResult) or reply.status != 200:
            status = getattr(reply, "status", None) or getattr(reply, "error_code", "")
            raise DisputeLookupError(f"PayPal did not return dispute {processor_dispute_reference} ({status})")
        return paypal_dispute_info(reply.body)

    def settlement_report(self, *, start: datetime, end: datetime) -> SettlementReport:
        return paypal_settlement_report(self.client, start=start, end=end)


def _refund_unresolved(message: str) -> ProcessorResult:
    return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="reference_required", message=f"PayPal: {message}")
