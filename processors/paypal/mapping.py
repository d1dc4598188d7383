"""PayPal's answers as ``ProcessorResult``s: orders, captures, refunds and errors.

Amounts are exact decimal strings, read as ISO minor units through PayPal's currency table
(``currencies.PAYPAL_CURRENCIES``); one that cannot be held exactly is never rounded. The payment's
``processor_reference`` is always the order id; authorization and capture ids are reported in
``extra`` (the connector looks them up from the order when it needs them). The HTTP status ->
outcome rule itself is ``processors.http``'s.
"""

from typing import Any

from ..base import Outcome, ProcessorResult
from ..http import Reply, error_status_outcome
from .currencies import PAYPAL_CURRENCIES

_CAPTURED_STATUSES = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")


def amount_of(value: dict[str, Any] | None) -> int:
    """A PayPal ``money`` object as ISO minor units (``ValueError`` if it cannot be held exactly)."""
    if not value:
        return 0
    return PAYPAL_CURRENCIES.from_decimal_string(value["value"], value["currency_code"])


def issue_of(body: Any) -> str | None:
    """The first ``details[].issue`` of a PayPal error body (else its ``name``)."""
    if isinstance(body, dict):
        details = body.get("details") or []
        if details and isinstance(details[0], dict) and details[0].get("issue"):
            return str(details[0]["issue"])
        return body.get("name")
    return None


def _link(resource: dict[str, Any], *rels: str) -> str | None:
    for link in resource.get("links") or []:
        if link.get("rel") in rels:
            return link.get("href")
    return None


def error_result(reply: Reply, *, money_may_move: bool = True) -> ProcessorResult:
    """PayPal's error shape ``{name, message, debug_id, details[{field, issue, description}]}``."""
    body = reply.body if isinstance(reply.body, dict) else {}
    message = body.get("message") or f"PayPal answered {reply.status}"
    extra = {"http_status": reply.status, "debug_id": body.get("debug_id"), "paypal_error": body.get("name")}
    outcome, error_code = error_status_outcome(reply.status, money_may_move=money_may_move)
    if outcome is Outcome.DECLINED:
        decline = (issue_of(body) or "declined").lower()
        return ProcessorResult(
            outcome=Outcome.DECLINED, error_code=decline, decline_code=decline, message=message, extra=extra
        )
    return ProcessorResult(outcome=outcome, error_code=error_code, message=message, extra=extra)


def order_result(order: dict[str, Any]) -> ProcessorResult:
    """An order's state: its captures decide, else its authorization, else the order status."""
    units = order.get("purchase_units") or [{}]
    payments = units[0].get("payments") or {}
    captures = payments.get("captures") or []
    authorizations = payments.get("authorizations") or []
    extra = {
        "order_status": order.get("status"),
        "capture_ids": [c.get("id") for c in captures],
        "authorization_id": authorizations[-1].get("id") if authorizations else None,
        "authorization_status": authorizations[-1].get("status") if authorizations else None,
    }
    common = {"processor_reference": order.get("id"), "raw_status": order.get("status"), "extra": extra}
    if captures:
        return _captured_order_result(captures, authorizations, payments.get("refunds") or [], common)
    if authorizations:
        return _authorized_order_result(authorizations[-1], common)
    return _order_status_result(order, common)


def _captured_order_result(captures: list, authorizations: list, refunds: list, common: dict) -> ProcessorResult:
    # A COMPLETED order can still hold a DECLINED capture: the capture's status decides.
    completed = [c for c in captures if c.get("status") in _CAPTURED_STATUSES]
    if completed:
        captured = sum(amount_of(c.get("amount")) for c in completed)
        return ProcessorResult(
            outcome=Outcome.SUCCEEDED,
            amount_authorized=sum(amount_of(a.get("amount")) for a in authorizations) or captured,
            amount_captured=captured,
            amount_refunded=sum(amount_of(r.get("amount")) for r in refunds if r.get("status") == "COMPLETED"),
            **common,
        )
    if any(c.get("status") == "PENDING" for c in captures):
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    last = captures[-1]
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code="capture_declined",
        decline_code=((last.get("status_details") or {}).get("reason") or "capture_declined").lower(),
        message=f"PayPal capture {last.get('status')}",
        **common,
    )


def _authorized_order_result(auth: dict[str, Any], common: dict) -> ProcessorResult:
    """An order with an authorization and no capture listed."""
    auth_status = auth.get("status")
    if auth_status in ("CAPTURED", "PARTIALLY_CAPTURED"):
        # Money was captured, but the order does not list the capture (yet): how much is not
        # known. Never a decline (that would release a payment PayPal has charged): ask again.
        return ProcessorResult(
            outcome=Outcome.UNKNOWN,
            error_code="capture_not_listed",
            message=f"PayPal authorization {auth_status} but the order lists no capture",
            **common,
        )
    if auth_status == "CREATED":
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=amount_of(auth.get("amount")), **common)
    if auth_status == "PENDING":
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    if auth_status == "VOIDED":
        return ProcessorResult(
            outcome=Outcome.DECLINED, error_code="canceled", message="authorization voided", **common
        )
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code="authorization_declined",
        decline_code=str(auth_status or "denied").lower(),
        message=f"PayPal authorization {auth_status}",
        **common,
    )


def _order_status_result(order: dict[str, Any], common: dict) -> ProcessorResult:
    status = order.get("status")
    if status in ("CREATED", "PAYER_ACTION_REQUIRED", "SAVED"):
        return ProcessorResult(
            outcome=Outcome.REQUIRES_ACTION, redirect_url=_link(order, "approve", "payer-action"), **common
        )
    if status == "APPROVED":
        # The buyer approved; the money moves only when we capture/authorize (complete()).
        return ProcessorResult(outcome=Outcome.PENDING, **{**common, "extra": {**common["extra"], "approved": True}})
    if status == "VOIDED":
        return ProcessorResult(outcome=Outcome.DECLINED, error_code="canceled", message="order voided", **common)
    return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="unexpected_status", **common)


def capture_result(capture: dict[str, Any], order_id: str | None) -> ProcessorResult:
    """A capture (of an authorization, or reported by a webhook) under its order's id."""
    status = capture.get("status")
    common = {"processor_reference": order_id, "raw_status": status, "extra": {"capture_id": capture.get("id")}}
    if status in _CAPTURED_STATUSES:
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_captured=amount_of(capture.get("amount")), **common)
    if status == "PENDING":
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code="capture_declined",
        decline_code=((capture.get("status_details") or {}).get("reason") or "capture_declined").lower(),
        message=f"PayPal capture {status}",
        **common,
    )


def refunds_of(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The refunds an order lists (``purchase_units[].payments.refunds``)."""
    units = order.get("purchase_units") or []
    return [refund for unit in units for refund in ((unit.get("payments") or {}).get("refunds") or [])]


def refund_result(refund: dict[str, Any]) -> ProcessorResult:
    status = refund.get("status")
    common = {
        "processor_reference": refund.get("id"),
        "raw_status": status,
        "extra": {"custom_id": refund.get("custom_id")},
    }
    if status == "COMPLETED":
        return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=amount_of(refund.get("amount")), **common)
    if status == "PENDING":
        return ProcessorResult(outcome=Outcome.PENDING, **common)
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        error_code="refund_failed",
        decline_code=((refund.get("status_details") or {}).get("reason") or str(status)).lower(),
        message=f"PayPal refund {status}",
        **common,
    )
