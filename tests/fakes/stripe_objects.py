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


def dispute(
    dispute_id: str, pi: dict[str, Any], *, status: str, reason: str, fee: int, livemode: bool
) -> dict[str, Any]:
    """A Dispute as GET /v1/disputes/{id} returns it (fields of Stripe's API reference). Chargeback
    statuses carry the withdrawal balance transaction (amount negative, the dispute fee positive)."""
    now = int(time.time())
    withdrawn = status in ("needs_response", "under_review", "won", "lost")
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": pi["amount_received"] or pi["amount"],
        "balance_transactions": (
            [
                {
                    "id": f"txn_{dispute_id}_w",
                    "object": "balance_transaction",
                    "amount": -(pi["amount_received"] or pi["amount"]) - fee,
                    "currency": pi["currency"],
                    "fee": fee,
                    "reporting_category": "dispute",
                }
            ]
            if withdrawn
            else []
        ),
        "charge": pi.get("latest_charge") or f"ch_{pi['id'][3:]}",
        "created": now,
        "currency": pi["currency"],
        "evidence": {},
        "evidence_details": {
            "due_by": now + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": livemode,
        "metadata": {},
        "payment_intent": pi["id"],
        "reason": reason,
        "status": status,
    }


def dispute_closed(dispute: dict[str, Any], *, won: bool, reinstated_id: str) -> None:
    dispute["status"] = "won" if won else "lost"
    if won:
        dispute["balance_transactions"].append(
            {
                "id": reinstated_id,
                "object": "balance_transaction",
                "amount": dispute["amount"],
                "currency": dispute["currency"],
                "fee": 0,
                "reporting_category": "dispute_reversal",
            }
        )
