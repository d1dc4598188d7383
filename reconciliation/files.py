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
* PayPal: the SFTP Settlement Report (``STL-yyyymmdd.sequence.version.CSV``), recognised by its
  ``RH`` report header record (``paypal_settlement_report`` below); or a Transaction Search
  response (``GET /v1/reporting/transactions``, JSON, one page or a list of pages) as saved from
  the API, which ``processors.paypal.settlement`` reads.

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
from processors.paypal.currencies import PAYPAL_CURRENCIES
from processors.paypal.settlement import event_kind, transactions_report
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
        if text.lstrip().startswith(("RH,", '"RH"')):  # the Settlement Report's first record
            return paypal_settlement_report(text=text, start=start, end=end)
        try:
            payload = json.loads(text)
        except ValueError as error:
            raise InvalidRequest(
                "The PayPal file is neither a Settlement Report (its first record is not the RH report header) "
                f"nor Transaction Search JSON ({error}).",
                param="file",
            ) from None
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


# PayPal's Settlement Report, as documented in "Settlement Report Specification"
# (https://developer.paypal.com/docs/reports/sftp-reports/settlement-report/, report version 9,
# "Report format", "File structure", "Section data"): a CSV of records, each line's first field its
# type: RH report header, FH file header, SH section header, CH column header (the section body's
# column names), SB section body (one per transaction), SF section footer, SC section record count,
# RF report footer, RC report record count, FF file footer. Money amounts are unsigned integers in
# hundredths with no separator, whatever the currency ("100,00 yen and $100.00 USD are both
# represented as 10000"), their direction in "Transaction Debit or Credit" / "Fee Debit or Credit"
# (CR or DR). The columns are read by their CH names, not by position, as the spec adds columns
# between versions (Store ID, Bank Reference ID, Credit ... fields).
# Where the spec is silent, and so what we chose:
# * it lists only transactions that affect the balance, without a status column: every SB row is
#   taken as succeeded;
# * date fields are shown in its sample as "yyyy/mm/dd hh:mm:ss +hhmm"; ISO 8601 is read too;
# * it does not say what a record count that disagrees with the rows means: a file whose SC (per
#   section) or RC (per report) count is not the number of SB rows, or that has no RF footer, is a
#   truncated or altered file and is refused whole, like any row we cannot read.
# The footers carry money too. The spec's overview: the report "summarizes, for each currency held by
# the accounts, total debits and credits and the beginning and ending balance"; its revision history
# lists footer fields ("Beginning Payable Balance", "Ending Payable Balance", 7.0; "Removed incorrect
# currency information in footer for 'Currency of Balance'", 7.0.4). The field order is taken from a
# public STL sample, '"SF","USD",0,0,0,0,"CR",0,"CR",0,...': a currency, four unsigned totals, then
# direction/balance pairs. So an SF (section footer) or RF (report footer) is read as: currency, Total
# Gross Amount Credit, Total Gross Amount Debit, Total Fee Amount Credit, Total Fee Amount Debit
# (hundredths, as the SB amounts), one footer per currency; the balance fields after them are not
# read (a balance is not a sum of the rows). Where that is silent, what we chose:
# * a total is the sum of the SB rows' Gross Transaction Amount (or Fee Amount) whose Transaction (Fee)
#   Debit or Credit is CR (DR), in that row's Gross Transaction Currency, compared in the file's own
#   hundredths, exactly; an SF sums its section's rows, an RF all the report's rows;
# * a footer that disagrees, a currency with rows but no footer (or two footers), or a footer that is
#   not a currency and four unsigned integers refuses the file whole, as a wrong count does.
SRF_COLUMNS = (
    "Transaction ID",
    "PayPal Reference ID",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Debit or Credit",
    "Fee Amount",
    "Custom Field",
)
SRF_DIRECTIONS = {"CR": 1, "DR": -1}
SRF_TOTALS = (
    "Total Gross Amount Credit",
    "Total Gross Amount Debit",
    "Total Fee Amount Credit",
    "Total Fee Amount Debit",
)


def _srf_refused(line: int, message: str) -> InvalidRequest:
    return InvalidRequest(f"PayPal settlement report, line {line}: {message}", param="file")


def _srf_amount(row: dict[str, str], amount: str, direction: str, currency: str, line: int) -> int:
    """A signed amount in ISO minor units (credit to the merchant positive), exact or refused."""
    value, sign = row.get(amount, "").strip() or "0", SRF_DIRECTIONS.get(row.get(direction, "").strip() or "CR")
    if not value.isdigit() or sign is None:
        raise _srf_refused(line, f"{amount} {value!r} / {direction} {row.get(direction)!r} is not an amount")
    hundredths = int(value)
    try:
        PAYPAL_CURRENCIES.rule(currency)
        minor = PAYPAL_CURRENCIES.from_decimal_string(f"{hundredths // 100}.{hundredths % 100:02d}", currency)
    except (ValueError, CurrencyRefused) as error:
        raise _srf_refused(line, f"{amount} {value} is not an exact {currency} amount ({error})") from None
    return sign * minor


def _srf_when(value: str, line: int) -> datetime:
    text = value.strip()
    for layout in ("%Y/%m/%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %z"):
        try:
            return datetime.strptime(text, layout).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _srf_refused(line, f"{value!r} is not a date and time") from None
    if parsed.tzinfo is None:
        raise _srf_refused(line, f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


def paypal_settlement_report(*, text: str, start: datetime, end: datetime) -> SettlementReport:
    """PayPal's SFTP Settlement Report as the normalised report; any unreadable record refuses it whole."""
    lines: list[SettlementLine] = []
    payouts: list[SettlementPayout] = []
    columns: list[str] | None = None
    section_rows = report_rows = 0
    report = _SrfTotals(1)
    sections = [_SrfTotals(1)]  # SB rows before any SH header are a section of their own
    footer = False
    for number, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or not any(field.strip() for field in record):
            continue
        kind, fields = record[0].strip(), record[1:]
        if number == 1 and kind != "RH":
            raise _srf_refused(number, "the first record is not the RH report header")
        if kind == "SH":
            columns, section_rows = None, 0
            sections.append(_SrfTotals(number))
        elif kind == "CH":
            columns = [field.strip() for field in fields]
            missing = [name for name in SRF_COLUMNS if name not in columns]
            if missing:
                raise _srf_refused(number, f"the CH column header lacks {', '.join(missing)}")
        elif kind == "SB":
            if columns is None:
                raise _srf_refused(number, "an SB row before its CH column header")
            section_rows, report_rows = section_rows + 1, report_rows + 1
            row = dict(zip(columns, fields, strict=False))
            currency = _srf_row(row, number, lines, payouts)
            for totals in (sections[-1], report):
                totals.add(currency, _srf_figures(row))
        elif kind in ("SC", "RC"):
            counted = section_rows if kind == "SC" else report_rows
            if not fields or fields[0].strip() != str(counted):
                raise _srf_refused(number, f"{kind} counts {fields[:1]} rows, the file has {counted}")
        elif kind == "SF":
            sections[-1].footer("SF", fields, number)
        elif kind == "RF":
            report.footer("RF", fields, number)
            footer = True
        elif kind not in ("RH", "FH", "FF"):
            raise _srf_refused(number, f"unknown record type {kind!r}")
    if not footer:
        raise InvalidRequest("The PayPal settlement report has no RF report footer: it is incomplete.", param="file")
    for section in sections:
        section.unfooted("SF", "section")
    report.unfooted("RF", "report")
    return SettlementReport(processor="paypal", start=start, end=end, lines=tuple(lines), payouts=tuple(payouts))


def _srf_figures(row: dict[str, str]) -> tuple[int, int, int, int]:
    """A row already read, in the footers' terms: gross CR, gross DR, fee CR, fee DR (the file's hundredths)."""
    gross, fee = (int(row.get(name, "").strip() or "0") for name in ("Gross Transaction Amount", "Fee Amount"))
    gross_debit = row.get("Transaction Debit or Credit", "").strip() == "DR"
    fee_debit = row.get("Fee Debit or Credit", "").strip() == "DR"
    return (0 if gross_debit else gross, gross if gross_debit else 0, 0 if fee_debit else fee, fee if fee_debit else 0)


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


class _SrfTotals:
    """The SB rows of a section (or of the report) summed per currency, and the footers that stated them."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.sums: dict[str, tuple[int, ...]] = {}
        self.footed: set[str] = set()

    def add(self, currency: str, figures: tuple[int, int, int, int]) -> None:
        summed = self.sums.get(currency, (0, 0, 0, 0))
        self.sums[currency] = tuple(a + b for a, b in zip(summed, figures, strict=True))

    def footer(self, kind: str, fields: list[str], line: int) -> None:
        currency, stated = (fields[0].strip().upper() if fields else ""), [f.strip() for f in fields[1:5]]
        if not (len(currency) == 3 and currency.isalpha() and len(stated) == 4 and all(_digits(f) for f in stated)):
            raise _srf_refused(line, f"the {kind} footer {fields[:5]} is not a currency and four totals")
        if currency in self.footed:
            raise _srf_refused(line, f"a second {kind} footer for {currency}")
        self.footed.add(currency)
        for name, figure, summed in zip(SRF_TOTALS, stated, self.sums.get(currency, (0, 0, 0, 0)), strict=True):
            if int(figure) != summed:
                raise _srf_refused(line, f"{kind} {currency} {name} is {int(figure)}, the SB rows sum to {summed}")

    def unfooted(self, kind: str, what: str) -> None:
        missing = sorted(set(self.sums) - self.footed)
        if missing:
            raise _srf_refused(self.line, f"the {what} has {', '.join(missing)} rows but no {kind} footer for them")


def _srf_row(row: dict[str, str], number: int, lines: list, payouts: list) -> str:
    """Reads one SB row into lines or payouts; returns its currency."""
    transaction_id = row["Transaction ID"].strip()
    currency = row["Gross Transaction Currency"].strip().upper()
    if not transaction_id or not currency:
        raise _srf_refused(number, "a row without Transaction ID or Gross Transaction Currency")
    fee_currency = (row.get("Fee Currency") or "").strip().upper()
    if fee_currency and fee_currency != currency:
        raise _srf_refused(number, f"a fee in {fee_currency} on a {currency} transaction")
    amount = _srf_amount(row, "Gross Transaction Amount", "Transaction Debit or Credit", currency, number)
    fee_credit = _srf_amount(row, "Fee Amount", "Fee Debit or Credit", currency, number)
    created = _srf_when(row["Transaction Initiation Date"], number)
    kind = event_kind(row["Transaction Event Code"].strip())  # the T-code mapping Transaction Search uses
    if kind is None:  # T04xx: a withdrawal to the bank, the payout
        completed = (row.get("Transaction Completion Date") or "").strip()
        payouts.append(
            SettlementPayout(
                payout_id=transaction_id,
                amount=-amount,
                currency=currency,
                status="paid",
                created=created,
                arrival=_srf_when(completed, number) if completed else None,
            )
        )
        return currency
    lines.append(
        SettlementLine(
            line_id=transaction_id,
            kind=kind,
            processor_reference=transaction_id,
            amount=amount,
            fee=-fee_credit,  # a fee PayPal keeps is a debit: positive here, as in the Transaction Search path
            net=amount + fee_credit,
            currency=currency,
            created=created,
            status="succeeded",
            gateway_reference=row["Custom Field"].strip() or None,
            charge_reference=row["PayPal Reference ID"].strip() or None,
        )
    )
    return currency
