"""Stripe's objects as its API returns them, for the fake Stripe server: the fields Stripe's
published specification makes required for each (``payment_intent``, ``payment_method``,
``refund``, ``list``, ``search_result``, ``event`` schemas), the ones the gateway reads, and
nothing of the fake's own bookkeeping."""

import time
from typing import Any


def payment_intent(intent_id: str, params: dict[str, Any], payment_method: str, *, livemode: bool) -> dict[str, Any]:
    """``payment_intent`` (required: amount, capture_method, confirmation_method, created, currency,
    id, livemode, object, payment_method_types, status)."""
    types = params.get("payment_method_types") or {"0": "card"}
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": int(params["amount"]),
        "amount_capturable": 0,
        "amount_received": 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": params.get("capture_method", "automatic"),
        "client_secret": f"{intent_id}_secret_fake",
        "confirmation_method": params.get("confirmation_method", "automatic"),
        "created": int(time.time()),
        "currency": params["currency"],
        "customer": None,
        "description": params.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        "metadata": params.get("metadata") or {},
        "next_action": None,
        "payment_method": payment_method,  # an id, not the object (it is expandable)
        "payment_method_types": [types[key] for key in sorted(types, key=int)],
        "status": "requires_confirmation",
    }


def intent_authorized(pi: dict[str, Any]) -> None:
    if pi["capture_method"] == "manual":
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]


def payment_method(pm_id: str, card: dict[str, Any], name: str | None, *, livemode: bool) -> dict[str, Any]:
    """``payment_method`` (required: billing_details, created, id, livemode, object, type)."""
    number = card["number"]
    brand = "mastercard" if number.startswith("5") else "visa"
    return {
        "id": pm_id,
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": name or None, "phone": None},
        "card": {
            "brand": brand,
            "country": "US",
            "exp_month": int(card["exp_month"]),
            "exp_year": int(card["exp_year"]),
            "funding": "credit",
            "last4": number[-4:],
        },
        "created": int(time.time()),
        "customer": None,
        "livemode": livemode,
        "metadata": {},
        "type": "card",
    }


def refund(refund_id: str, pi: dict[str, Any], amount: int, metadata: dict, *, status: str) -> dict[str, Any]:
    """``refund`` (required: amount, created, currency, id, object)."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": pi.get("latest_charge"),
        "created": int(time.time()),
        "currency": pi["currency"],
        "metadata": metadata,
        "payment_intent": pi["id"],
        "reason": None,
        "receipt_number": None,
        "status": status,
    }


def list_result(data: list[dict[str, Any]], *, has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def search_result(data: list[dict[str, Any]], *, url: str) -> dict[str, Any]:
    return {"object": "search_result", "data": data, "has_more": False, "next_page": None, "url": url}


def event(event_id: str, type_: str, obj: dict[str, Any], *, livemode: bool) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": dict(obj)},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }
