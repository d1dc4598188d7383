"""PayPal's objects as its REST API returns them, for the fake PayPal server: the ``order``,
``authorization-2``, ``capture-2``, ``refund`` and webhook ``event`` schemas of PayPal's published
specifications (with HATEOAS ``links``), and nothing of the fake's own bookkeeping."""

import secrets
import time
from typing import Any


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _link(href: str, rel: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "method": "GET"}


def token(expires_in: int) -> dict[str, Any]:
    return {
        "scope": "https://uri.paypal.com/services/payments/payment",
        "access_token": "A21" + secrets.token_urlsafe(24),
        "token_type": "Bearer",
        "app_id": "APP-FAKE",
        "expires_in": expires_in,
        "nonce": secrets.token_hex(8),
    }


def order(order_id: str, body: dict[str, Any], *, base_url: str, payer_action: bool) -> dict[str, Any]:
    """orders.create's answer: PAYER_ACTION_REQUIRED with a ``payer-action`` link when the
    payment source carries an experience context, else CREATED with an ``approve`` link."""
    return {
        "id": order_id,
        "intent": body["intent"],
        "status": "PAYER_ACTION_REQUIRED" if payer_action else "CREATED",
        "purchase_units": [{**unit, "payments": {}} for unit in body["purchase_units"]],
        "create_time": now(),
        "links": [
            _link(f"{base_url}/v2/checkout/orders/{order_id}", "self"),
            _link(f"{base_url}/checkoutnow?token={order_id}", "payer-action" if payer_action else "approve"),
        ],
    }


def payment(
    object_id: str, kind: str, *, order_id: str, unit: dict, status: str, amount: dict, base_url: str
) -> dict[str, Any]:
    """An authorization or a capture (``kind``: "authorizations" / "captures")."""
    return {
        "id": object_id,
        "status": status,
        "amount": amount,
        "custom_id": unit.get("custom_id"),
        "supplementary_data": {"related_ids": {"order_id": order_id}},
        "links": [
            _link(f"{base_url}/v2/payments/{kind}/{object_id}", "self"),
            _link(f"{base_url}/v2/checkout/orders/{order_id}", "up"),
        ],
        "create_time": now(),
        "update_time": now(),
    }


def refund(refund_id: str, *, amount: dict, capture_id: str, custom_id: Any, base_url: str) -> dict[str, Any]:
    """A refund: ``custom_id`` as sent, a link ``up`` to its capture, no supplementary_data."""
    body = {
        "id": refund_id,
        "status": "COMPLETED",
        "amount": dict(amount),
        "links": [
            _link(f"{base_url}/v2/payments/refunds/{refund_id}", "self"),
            _link(f"{base_url}/v2/payments/captures/{capture_id}", "up"),
        ],
        "create_time": now(),
        "update_time": now(),
    }
    if custom_id is not None:
        body["custom_id"] = custom_id
    return body


def event(event_id: str, event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_version": "1.0",
        "create_time": now(),
        "resource_type": event_type.split(".")[1].lower(),
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": event_type,
        "resource": resource,
        "links": [],
    }
