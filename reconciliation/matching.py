"""Matching a processor's settlement lines with our payments and refunds: one pure function, so
every classification is decided in one place and tested without a database.

A line is matched by the processor's id first (the charge or refund id we stored), then by our own
reference (the attempt or refund id we sent as idempotency key / ``metadata[gateway_reference]`` /
PayPal ``custom_id``): that finds a charge whose reply was lost, which has no processor id here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from payments.selectors import SettledCharge, SettledRefund
from processors.base import SettlementKind, SettlementLine

from .models import Classification

SUCCEEDED = "succeeded"
CAPTURED_STATUSES = frozenset({"succeeded"})  # payment statuses with money received


@dataclass(frozen=True)
class ItemDraft:
    key: str
    classification: str
    kind: str  # charge | refund
    detail: str
    line: SettlementLine | None = None
    payment_id: str = ""
    refund_id: str = ""
    gateway_amount: int | None = None
    gateway_currency: str = ""
    gateway_status: str = ""
    # status_mismatch on a payment with an unresolved attempt: the payments janitor resolves it.
    hand_to_janitor: bool = False
    # The payment the line's fee belongs to (its currency agrees with the line's), "" if none.
    fee_payment_id: str = ""


def classify(
    *,
    lines: Iterable[SettlementLine],
    charges: Iterable[SettledCharge],
    refunds: Iterable[SettledRefund],
    start: datetime,
    end: datetime,
) -> list[ItemDraft]:
    """One draft per charge or refund line, and one per payment or refund of ours created in
    [start, end) that no line accounts for. Other lines (payouts, disputes, other fees) are not
    items: payouts and fees go to the books, disputes come through their own webhooks."""
    charges, refunds = list(charges), list(refunds)
    charge_by_ref = {ref: c for c in charges for ref in c.processor_references}
    charge_by_ours = {ref: c for c in charges for ref in c.gateway_references}
    refund_by_ref = {r.processor_reference: r for r in refunds if r.processor_reference}
    refund_by_ours = {r.refund_id: r for r in refunds}

    drafts: list[ItemDraft] = []
    keys: dict[str, int] = {}
    charged: dict[str, str] = {}  # payment id -> the first charge line's processor reference
    # A charge line's own id -> our charge: a refund names the charge by the processor's capture id
    # (PayPal's paypal_reference_id), which we may know only from this report.
    charge_by_line: dict[str, SettledCharge] = {}
    refunded: set[str] = set()
    ordered = sorted(
        (line for line in lines if line.kind in (SettlementKind.CHARGE, SettlementKind.REFUND)),
        key=lambda line: (line.created, line.line_id),
    )
    for line in ordered:
        key = f"line:{line.line_id}"
        keys[key] = keys.get(key, 0) + 1
        if keys[key] > 1:  # the same line twice in the processor's data (a file listing it twice)
            drafts.append(
                ItemDraft(
                    key=f"{key}#{keys[key]}",
                    classification=Classification.DUPLICATE,
                    kind=line.kind,
                    line=line,
                    detail=f"settlement line {line.line_id} appears {keys[key]} times",
                )
            )
            continue
        if line.kind == SettlementKind.CHARGE:
            charge = charge_by_ref.get(line.processor_reference) or charge_by_ours.get(line.gateway_reference or "")
            if charge is not None:
                charge_by_line[line.processor_reference] = charge
            drafts.append(_charge_draft(key, line, charge, charged))
        else:
            refund = refund_by_ref.get(line.processor_reference) or refund_by_ours.get(line.gateway_reference or "")
            charge = charge_by_ref.get(line.charge_reference or "") or charge_by_line.get(line.charge_reference or "")
            drafts.append(_refund_draft(key, line, refund, charge, refunded))

    for charge in charges:
        if charge.payment_id not in charged and charge.amount_received > 0 and start <= charge.created < end:
            drafts.append(
                ItemDraft(
                    key=f"payment:{charge.payment_id}",
                    classification=Classification.MISSING_AT_PROCESSOR,
                    kind="charge",
                    payment_id=charge.payment_id,
                    gateway_amount=charge.amount_received,
                    gateway_currency=charge.currency,
                    gateway_status=charge.status,
                    detail="we booked money received; the processor's record of the period has no charge for it",
                )
            )
    for refund in refunds:
        if refund.refund_id not in refunded and refund.status == SUCCEEDED and start <= refund.created < end:
            drafts.append(
                ItemDraft(
                    key=f"refund:{refund.refund_id}",
                    classification=Classification.MISSING_AT_PROCESSOR,
                    kind="refund",
                    payment_id=refund.payment_id,
                    refund_id=refund.refund_id,
                    gateway_amount=-refund.amount,
                    gateway_currency=refund.currency,
                    gateway_status=refund.status,
                    detail="we booked a succeeded refund; the processor's record of the period has none",
                )
            )
    return drafts


def _charge_draft(key: str, line: SettlementLine, charge: SettledCharge | None, charged: dict[str, str]) -> ItemDraft:
    if charge is None:
        return ItemDraft(
            key=key,
            classification=Classification.MISSING_IN_GATEWAY,
            kind="charge",
            line=line,
            detail=f"the processor settled charge {line.processor_reference}; no payment of ours has it",
        )
    ours = {
        "payment_id": charge.payment_id,
        "gateway_amount": charge.amount_received,
        "gateway_currency": charge.currency,
        "gateway_status": charge.status,
        "fee_payment_id": charge.payment_id if charge.currency == line.currency else "",
    }
    if charge.payment_id in charged:
        return ItemDraft(
            key=key,
            classification=Classification.DUPLICATE,
            kind="charge",
            line=line,
            detail=f"payment {charge.payment_id} is charged again: {charged[charge.payment_id]} settled already",
            **ours,
        )
    charged[charge.payment_id] = line.processor_reference
    if line.currency != charge.currency:
        return ItemDraft(
            key=key,
            classification=Classification.CURRENCY_MISMATCH,
            kind="charge",
            line=line,
            detail=f"settled in {line.currency}, the payment is in {charge.currency}",
            **ours,
        )
    settled = line.status == SUCCEEDED
    received = charge.status in CAPTURED_STATUSES and charge.amount_received > 0
    if settled != received:
        here = "succeeded" if received else f"{charge.status}{' (outcome unknown)' if charge.unresolved else ''}"
        return ItemDraft(
            key=key,
            classification=Classification.STATUS_MISMATCH,
            kind="charge",
            line=line,
            detail=f"the processor says {line.status}, the payment is {here}",
            hand_to_janitor=charge.unresolved,
            **ours,
        )
    if settled and line.amount != charge.amount_received:
        return ItemDraft(
            key=key,
            classification=Classification.AMOUNT_MISMATCH,
            kind="charge",
            line=line,
            detail=f"the processor settled {line.amount}, we booked {charge.amount_received} ({line.currency})",
            **ours,
        )
    return ItemDraft(key=key, classification=Classification.MATCHED, kind="charge", line=line, detail="", **ours)


def _refund_draft(
    key: str, line: SettlementLine, refund: SettledRefund | None, charge: SettledCharge | None, refunded: set[str]
) -> ItemDraft:
    if refund is None:
        if charge is None:
            return ItemDraft(
                key=key,
                classification=Classification.MISSING_IN_GATEWAY,
                kind="refund",
                line=line,
                detail=f"the processor settled refund {line.processor_reference} of a charge we do not know",
            )
        return ItemDraft(
            key=key,
            classification=Classification.REFUND_OUTSIDE_GATEWAY,
            kind="refund",
            line=line,
            payment_id=charge.payment_id,
            gateway_currency=charge.currency,
            fee_payment_id=charge.payment_id if charge.currency == line.currency else "",
            detail=f"refund {line.processor_reference} of payment {charge.payment_id} was not made through the gateway",
        )
    ours = {
        "payment_id": refund.payment_id,
        "refund_id": refund.refund_id,
        "gateway_amount": -refund.amount,
        "gateway_currency": refund.currency,
        "gateway_status": refund.status,
        "fee_payment_id": refund.payment_id if refund.currency == line.currency else "",
    }
    if refund.refund_id in refunded:
        return ItemDraft(
            key=key,
            classification=Classification.DUPLICATE,
            kind="refund",
            line=line,
            detail=f"refund {refund.refund_id} is settled twice",
            **ours,
        )
    refunded.add(refund.refund_id)
    if line.currency != refund.currency:
        return ItemDraft(
            key=key,
            classification=Classification.CURRENCY_MISMATCH,
            kind="refund",
            line=line,
            detail=f"settled in {line.currency}, the refund is in {refund.currency}",
            **ours,
        )
    if (line.status == SUCCEEDED) != (refund.status == SUCCEEDED):
        return ItemDraft(
            key=key,
            classification=Classification.STATUS_MISMATCH,
            kind="refund",
            line=line,
            detail=f"the processor says {line.status}, the refund is {refund.status}",
            hand_to_janitor=refund.status == "pending",
            **ours,
        )
    if line.status == SUCCEEDED and -line.amount != refund.amount:
        return ItemDraft(
            key=key,
            classification=Classification.AMOUNT_MISMATCH,
            kind="refund",
            line=line,
            detail=f"the processor refunded {-line.amount}, we booked {refund.amount} ({line.currency})",
            **ours,
        )
    return ItemDraft(key=key, classification=Classification.MATCHED, kind="refund", line=line, detail="", **ours)
