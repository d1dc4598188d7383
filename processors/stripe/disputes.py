"""Stripe's Dispute object (``GET /v1/disputes/{id}``), normalised to ``DisputeInfo``.

Fields read, as Stripe's API reference defines them: ``id``, ``amount`` and ``currency`` (Stripe's
units, lower-case code), ``charge``, ``payment_intent``, ``reason``, ``status``
(warning_needs_response, warning_under_review, warning_closed, needs_response, under_review, won,
lost, prevented), ``evidence_details.due_by`` (unix seconds), ``created``, and
``balance_transactions`` (zero, one or two: the withdrawal, whose ``fee`` is the dispute fee, and
the reinstatement of a won dispute, whose negative ``fee`` is a fee given back). A balance
transaction is in the account's settlement currency: a fee in another currency than the dispute's
is left out of ``fee`` (named in ``fee_currency_elsewhere``; reconciliation sees it as a line).
"""

from typing import Any

from ..base import DisputeInfo, DisputeLookupError
from .mapping import iso_amount

# Stripe's statuses are the gateway's vocabulary; "prevented" (an inquiry closed before it became a
# dispute) is one way a warning closes.
_STATUSES = {
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
}


def stripe_dispute_info(obj: Any) -> DisputeInfo:
    if not isinstance(obj, dict) or obj.get("object") != "dispute" or not isinstance(obj.get("id"), str):
        raise DisputeLookupError("Stripe's answer is not a dispute")
    raw_status = str(obj.get("status") or "")
    status = "warning_closed" if raw_status == "prevented" else raw_status
    if status not in _STATUSES:
        raise DisputeLookupError(f"unknown Stripe dispute status {raw_status!r}")
    currency = str(obj.get("currency") or "").upper()
    amount = iso_amount(obj.get("amount"), currency)
    if amount is None:
        raise DisputeLookupError("the dispute's amount cannot be read exactly")
    fee = fee_returned = 0
    fee_elsewhere = ""
    for transaction in obj.get("balance_transactions") or []:
        if not isinstance(transaction, dict):
            continue
        fee_wire = int(transaction.get("fee") or 0)
        # A balance transaction is in the account's settlement currency, which may differ from the
        # dispute's: such a fee is not the dispute's to post (reconciliation sees it as a line).
        fee_currency = str(transaction.get("currency") or currency).upper()
        if fee_wire and fee_currency != currency:
            fee_elsewhere = fee_currency
            continue
        minor = iso_amount(abs(fee_wire), fee_currency) or 0
        if fee_wire > 0:
            fee += minor
        elif fee_wire < 0:
            fee_returned += minor
    charge_references = tuple(
        ref for ref in (_id_of(obj.get("payment_intent")), _id_of(obj.get("charge"))) if ref is not None
    )
    due_by = (obj.get("evidence_details") or {}).get("due_by")
    return DisputeInfo(
        processor_reference=obj["id"],
        status=status,
        raw_status=raw_status,
        amount=amount,
        currency=currency,
        reason=str(obj.get("reason") or "general"),
        charge_references=charge_references,
        evidence_due_by=int(due_by) if isinstance(due_by, int) else None,
        fee=fee,
        fee_returned=fee_returned,
        fee_currency_elsewhere=fee_elsewhere,
        created=obj.get("created") if isinstance(obj.get("created"), int) else None,
    )


def _id_of(value: Any) -> str | None:
    """An expandable field: an id, or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None
