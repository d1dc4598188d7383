"""PayPal's dispute (``GET /v1/customer/disputes/{dispute_id}``, Disputes API v1), normalised to
``DisputeInfo``.

Fields read, as PayPal's published specification names them: ``dispute_id``, ``reason``,
``status`` (OPEN, WAITING_FOR_BUYER_RESPONSE, WAITING_FOR_SELLER_RESPONSE, UNDER_REVIEW,
RESOLVED, OTHER), ``dispute_life_cycle_stage`` (INQUIRY, CHARGEBACK, PRE_ARBITRATION,
ARBITRATION), ``dispute_amount`` {currency_code, value}, ``seller_response_due_date``,
``dispute_outcome.outcome_code``, ``disputed_transactions[].seller_transaction_id`` (the capture)
and ``disputed_transactions[].custom`` (the purchase unit's ``custom_id``: our attempt id).

PayPal's status is mapped onto Stripe's vocabulary (the gateway's): an inquiry is a warning; the
outcome of a resolved dispute says who won. PayPal's dispute carries no fee (it is charged as a
separate transaction, which reconciliation sees): ``fee`` is 0.
"""

from datetime import datetime
from typing import Any

from ..base import DisputeInfo, DisputeLookupError
from .mapping import amount_of

_SELLER_WON = {"RESOLVED_SELLER_FAVOUR", "CANCELED_BY_BUYER", "DENIED"}
_SELLER_LOST = {"RESOLVED_BUYER_FAVOUR", "RESOLVED_WITH_PAYOUT", "ACCEPTED", "REFUNDED"}
_WAITING_FOR_US = {"OPEN", "WAITING_FOR_SELLER_RESPONSE"}


def paypal_dispute_status(*, status: str, stage: str, outcome: str) -> str:
    inquiry = stage == "INQUIRY"
    if status == "RESOLVED":
        if outcome in _SELLER_WON:
            return "warning_closed" if inquiry else "won"
        if outcome in _SELLER_LOST:
            return "lost"
        return "under_review"  # resolved without a readable outcome: not a verdict we can book
    if status in _WAITING_FOR_US:
        return "warning_needs_response" if inquiry else "needs_response"
    return "warning_under_review" if inquiry else "under_review"


def paypal_dispute_info(body: Any) -> DisputeInfo:
    if not isinstance(body, dict) or not isinstance(body.get("dispute_id"), str):
        raise DisputeLookupError("PayPal's answer is not a dispute")
    raw_status = str(body.get("status") or "")
    outcome = str((body.get("dispute_outcome") or {}).get("outcome_code") or "")
    status = paypal_dispute_status(
        status=raw_status, stage=str(body.get("dispute_life_cycle_stage") or ""), outcome=outcome
    )
    try:
        money = body.get("dispute_amount") or {}
        amount = amount_of(money)
        currency = str(money["currency_code"]).upper()
    except (KeyError, TypeError, ValueError):
        raise DisputeLookupError("the dispute's amount cannot be read exactly") from None
    references: list[str] = []
    for transaction in body.get("disputed_transactions") or []:
        if isinstance(transaction, dict):
            for key in ("seller_transaction_id", "custom"):
                if isinstance(transaction.get(key), str) and transaction[key]:
                    references.append(transaction[key])
    return DisputeInfo(
        processor_reference=body["dispute_id"],
        status=status,
        raw_status=f"{raw_status}/{outcome}" if outcome else raw_status,
        amount=amount,
        currency=currency,
        reason=str(body.get("reason") or "OTHER").lower(),
        charge_references=tuple(references),
        evidence_due_by=_unix(body.get("seller_response_due_date")),
        created=_unix(body.get("create_time")),
    )


def _unix(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
