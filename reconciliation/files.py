"""Settlement files given to ``manage.py reconcile --file``, read into the normalised
``SettlementReport`` the connectors return.

* Stripe: the itemized payout reconciliation report (``payout_reconciliation.itemized``) or the
  balance change report, CSV with the columns Stripe documents: ``balance_transaction_id``,
  ``created_utc``, ``currency`` (lower case), ``gross``, ``fee``, ``net`` (decimal amounts in the
  currency's major unit), ``reporting_category``, ``source_id``, ``charge_id``,
  ``payment_intent_id``, ``refund_id``, ``payment_metadata[gateway_reference]``,
  ``refund_metadata[gateway_reference]``, ``automatic_payout_id``,
  ``automatic_payout_effective_at_utc``. Payouts are derived from ``automatic_payout_id`` (the
  report itemizes what each payout is made of; the payout's amount is the sum of the nets).
* PayPal: a Transaction Search response (``GET /v1/reporting/transactions``, JSON, one page or a
  list of pages) as saved from the API; ``processors.paypal.settlement`` reads it.

Amounts are converted with the processor's own currency rules (``processors/*/currencies.py``);
a value that is not exact in the currency is refused, never rounded.
"""

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from gateway.errors import InvalidRequest
from processors.base import SettlementKind, SettlementLine, SettlementPayout, SettlementReport
from processors.currencies import CurrencyRefused
from processors.paypal.settlement import transactions_report
from processors.stripe.currencies import STRIPE_CURRENCIES

STRIPE_REQUIRED = ("balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category")
STRIPE_KINDS = {
    "charge": SettlementKind.CHARGE,
    "refund": SettlementKind.REFUND,
    "partial_capture_reversal": SettlementKind.CHARGE,
    "dispute": SettlementKind.DISPUTE,
    "dispute_reversal": SettlementKind.DISPUTE,
    "fee": SettlementKind.FEE,
}


def settlement_file_read(*, path: str, processor: str, start: datetime, end: datetime) -> SettlementReport:
    text = Path(path).read_text(encoding="utf-8-sig")
    if processor == "stripe":
        return stripe_csv_report(text=text, start=start, end=end)
    if processor == "paypal":
        try:
            payload = json.loads(text)
        except ValueError as error:
            raise InvalidRequest(f"The PayPal file is not Transaction Search JSON: {error}", param="file") from None
        pages = payload if isinstance(payload, list) else [payload]
        return transactions_report(pages=pages, start=start, end=end)
    raise InvalidRequest(f"Settlement files are read for stripe and paypal, not {processor}.", param="file")


def _stripe_amount(value: str, currency: str, column: str, row: int) -> int:
    try:
        return STRIPE_CURRENCIES.rule(currency) and STRIPE_CURRENCIES.from_decimal_string(value.strip(), currency)
    except (ValueError, CurrencyRefused) as error:
        raise InvalidRequest(
            f"Row {row}: {column} {value!r} is not an exact {currency} amount ({error}).", param="file"
        ) from None


def _utc(value: str, row: int) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        raise InvalidRequest(f"Row {row}: created_utc {value!r} is not a date and time.", param="file") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def stripe_csv_report(*, text: str, start: datetime, end: datetime) -> SettlementReport:
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in STRIPE_REQUIRED if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidRequest(f"The Stripe report lacks the columns {', '.join(missing)}.", param="file")
    lines: list[SettlementLine] = []
    payouts: dict[str, list] = {}
    counted: set[str] = set()  # a row listed twice is a duplicate item, not twice the payout
    for number, row in enumerate(reader, start=2):
        currency = row["currency"].strip().upper()
        category = row["reporting_category"].strip()
        kind = STRIPE_KINDS.get(category, SettlementKind.OTHER)
        gross = _stripe_amount(row["gross"], currency, "gross", number)
        fee = _stripe_amount(row["fee"], currency, "fee", number)
        net = _stripe_amount(row["net"], currency, "net", number)
        if gross - fee != net:
            raise InvalidRequest(f"Row {number}: gross - fee != net.", param="file")
        created = _utc(row["created_utc"], number)
        if kind == SettlementKind.REFUND:
            reference = (row.get("refund_id") or row.get("source_id") or "").strip()
            ours = (row.get("refund_metadata[gateway_reference]") or "").strip()
        else:
            reference = (row.get("payment_intent_id") or row.get("charge_id") or row.get("source_id") or "").strip()
            ours = (row.get("payment_metadata[gateway_reference]") or "").strip()
        payout_id = (row.get("automatic_payout_id") or "").strip() or None
        lines.append(
            SettlementLine(
                line_id=row["balance_transaction_id"].strip(),
                kind=kind,
                processor_reference=reference,
                amount=gross,
                fee=fee,
                net=net,
                currency=currency,
                created=created,
                gateway_reference=ours or None,
                charge_reference=(row.get("payment_intent_id") or "").strip() or None,
                payout_id=payout_id,
                description=(row.get("description") or "").strip(),
            )
        )
        if payout_id and row["balance_transaction_id"] not in counted:
            counted.add(row["balance_transaction_id"])
            effective = (row.get("automatic_payout_effective_at_utc") or "").strip()
            entry = payouts.setdefault(payout_id, [currency, 0, _utc(effective, number) if effective else created])
            entry[1] += net
    return SettlementReport(
        processor="stripe",
        start=start,
        end=end,
        lines=tuple(lines),
        payouts=tuple(
            SettlementPayout(payout_id=pid, amount=amount, currency=cur, status="paid", created=at, arrival=at)
            for pid, (cur, amount, at) in sorted(payouts.items())
            if amount > 0
        ),
    )
