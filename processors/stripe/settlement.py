"""Stripe's own record of a period: balance transactions (``GET /v1/balance_transactions`` with
``created[gte]``/``created[lt]``, ``expand[]=data.source``, 100 a page, ``starting_after`` while
``has_more``) and payouts (``GET /v1/payouts``, same paging), as a ``SettlementReport``; and one payout by id
(``GET /v1/payouts/{payout}``), to follow a payout still open in our books.

A charge line is named by its PaymentIntent (what the gateway stores as the processor reference),
else its charge id; our reference is ``metadata[gateway_reference]`` on the expanded source. Amounts
come in Stripe's integer units and are converted with ``STRIPE_CURRENCIES`` (exact, or refused).
"""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..base import SettlementKind, SettlementLine, SettlementPayout, SettlementReport, SettlementUnavailable
from ..http import Reply
from .currencies import STRIPE_CURRENCIES
from .mapping import REFERENCE_METADATA_KEY

PAGE_LIMIT = 100
MAX_PAGES = 1000

# Balance transaction ``reporting_category`` -> our kind of line.
CATEGORY_KINDS = {
    "charge": SettlementKind.CHARGE,
    "refund": SettlementKind.REFUND,
    "refund_failure": SettlementKind.REFUND,
    "dispute": SettlementKind.DISPUTE,
    "dispute_reversal": SettlementKind.DISPUTE,
    "fee": SettlementKind.FEE,
}
PAYOUT_CATEGORIES = frozenset({"payout", "payout_reversal"})


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _list(client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    for _ in range(MAX_PAGES):
        reply = client.get(path, {**params, "limit": PAGE_LIMIT, **({"starting_after": after} if after else {})})
        if not isinstance(reply, Reply) or reply.status != 200 or not isinstance(reply.body, dict):
            detail = getattr(reply, "message", None) or getattr(reply, "text", "")[:200]
            raise SettlementUnavailable(f"Stripe {path} did not answer a page: {detail}")
        page = reply.body.get("data") or []
        items.extend(page)
        if not reply.body.get("has_more"):
            return items
        if not page:
            raise SettlementUnavailable(f"Stripe {path} says has_more with an empty page")
        after = page[-1]["id"]
    raise SettlementUnavailable(f"Stripe {path}: more than {MAX_PAGES} pages")


def _amount(value: int, currency: str) -> int:
    try:
        return STRIPE_CURRENCIES.from_wire(int(value), currency)
    except ValueError as error:
        raise SettlementUnavailable(str(error)) from None


def _line(txn: dict[str, Any]) -> SettlementLine | None:
    category = txn.get("reporting_category") or txn.get("type")
    if category in PAYOUT_CATEGORIES:
        return None  # payouts come from /v1/payouts with their status
    kind = CATEGORY_KINDS.get(category, SettlementKind.OTHER)
    currency = str(txn["currency"]).upper()
    source = txn.get("source") if isinstance(txn.get("source"), dict) else {"id": txn.get("source") or ""}
    metadata = source.get("metadata") if isinstance(source.get("metadata"), dict) else {}
    intent = source.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if kind == SettlementKind.CHARGE or category == "partial_capture_reversal":
        reference, charge_reference = intent_id or source.get("id") or "", None
    else:
        reference, charge_reference = source.get("id") or "", intent_id
    return SettlementLine(
        line_id=txn["id"],
        kind=kind,
        processor_reference=reference,
        amount=_amount(txn["amount"], currency),
        fee=_amount(txn.get("fee") or 0, currency),
        net=_amount(txn["net"], currency),
        currency=currency,
        created=datetime.fromtimestamp(int(txn["created"]), tz=UTC),
        # A refund that failed is money back in; everything Stripe lists here moved the balance.
        status="succeeded",
        gateway_reference=metadata.get(REFERENCE_METADATA_KEY),
        charge_reference=charge_reference,
        description=str(txn.get("description") or ""),
    )


def _fold_reversals(lines: list[SettlementLine], reversals: list) -> tuple[SettlementLine, ...]:
    """A partial capture shows as the authorization's full amount plus a ``partial_capture_reversal``
    of the uncaptured part (Stripe's reporting categories): one charge of the captured amount here.
    A reversal whose charge is not in the period stays a line of its own (``other``)."""
    by_reference = {line.processor_reference: i for i, line in enumerate(lines) if line.kind == SettlementKind.CHARGE}
    for reversal in reversals:
        index = by_reference.get(reversal.processor_reference)
        if index is None:
            lines.append(replace(reversal, kind=SettlementKind.OTHER))
            continue
        charge = lines[index]
        lines[index] = replace(
            charge,
            amount=charge.amount + reversal.amount,
            fee=charge.fee + reversal.fee,
            net=charge.net + reversal.net,
        )
    return tuple(lines)


def stripe_settlement_report(client, *, start: datetime, end: datetime) -> SettlementReport:
    created = {"created": {"gte": _unix(start), "lt": _unix(end)}}
    transactions = _list(client, "/v1/balance_transactions", {**created, "expand": ["data.source"]})
    payouts = _list(client, "/v1/payouts", created)
    reversals = [txn for txn in transactions if txn.get("reporting_category") == "partial_capture_reversal"]
    lines = _fold_reversals(
        [line for txn in transactions if txn not in reversals and (line := _line(txn)) is not None],
        [_line(txn) for txn in reversals],
    )
    return SettlementReport(
        processor="stripe",
        start=start,
        end=end,
        lines=lines,
        payouts=tuple(_payout(p) for p in payouts),
    )


def _payout(p: dict[str, Any]) -> SettlementPayout:
    return SettlementPayout(
        payout_id=p["id"],
        amount=_amount(p["amount"], str(p["currency"]).upper()),
        currency=str(p["currency"]).upper(),
        status=p["status"],
        created=datetime.fromtimestamp(int(p["created"]), tz=UTC),
        arrival=datetime.fromtimestamp(int(p["arrival_date"]), tz=UTC) if p.get("arrival_date") else None,
    )


def stripe_payout(client, *, payout_id: str) -> SettlementPayout:
    """One payout as it is now (``GET /v1/payouts/{payout}``): how a payout created in an earlier
    period is followed to ``paid`` or ``failed`` (Stripe documents paid -> failed too)."""
    reply = client.get(f"/v1/payouts/{payout_id}")
    if not isinstance(reply, Reply) or reply.status != 200 or not isinstance(reply.body, dict):
        detail = getattr(reply, "message", None) or getattr(reply, "text", "")[:200]
        raise SettlementUnavailable(f"Stripe /v1/payouts/{payout_id} did not answer: {detail}")
    if reply.body.get("object") != "payout" or reply.body.get("id") != payout_id:
        raise SettlementUnavailable(f"Stripe /v1/payouts/{payout_id} answered something else")
    return _payout(reply.body)
