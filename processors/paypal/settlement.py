"""PayPal's own record of a period: Transaction Search (``GET /v1/reporting/transactions`` with
``start_date``/``end_date`` in RFC 3339, ``fields=all``, ``page_size`` up to 500 and ``page`` up to
``total_pages``), as a ``SettlementReport``. PayPal documents a range of at most 31 days and a
delay of up to three hours before a transaction is listed.

Each ``transaction_details[].transaction_info``: ``transaction_id`` (a capture or refund id),
``paypal_reference_id`` (for a refund: the capture it refunds), ``transaction_event_code``
(T00xx money received, T1107 refund, T1106/T12xx reversals and chargebacks, T04xx withdrawals to
the bank), ``transaction_initiation_date``, ``transaction_amount`` and ``fee_amount`` (decimal
strings; the fee is negative when PayPal keeps it), ``transaction_status`` (S success, P pending,
V reversed, D denied) and ``custom_field`` (our ``custom_id``: the attempt or refund id). Amounts
are converted with ``PAYPAL_CURRENCIES`` (exact or refused).
"""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..base import SettlementKind, SettlementLine, SettlementPayout, SettlementReport, SettlementUnavailable
from ..currencies import CurrencyRefused
from ..http import Reply
from .currencies import PAYPAL_CURRENCIES

PAGE_SIZE = 500
MAX_PAGES = 1000
STATUSES = {"S": "succeeded", "P": "pending", "V": "reversed", "D": "failed"}


def event_kind(code: str) -> SettlementKind | None:
    if code.startswith("T00"):
        return SettlementKind.CHARGE
    if code == "T1107":
        return SettlementKind.REFUND
    if code == "T1106" or code.startswith("T12"):
        return SettlementKind.DISPUTE
    if code.startswith("T04"):
        return None  # a withdrawal to the bank: a payout
    return SettlementKind.OTHER


def _money(value: dict[str, Any] | None, what: str) -> tuple[int, str]:
    if not value:
        return 0, ""
    currency = str(value.get("currency_code", "")).upper()
    try:
        PAYPAL_CURRENCIES.rule(currency)
        return PAYPAL_CURRENCIES.from_decimal_string(str(value.get("value", "")), currency), currency
    except (ValueError, CurrencyRefused) as error:
        raise SettlementUnavailable(f"PayPal {what} {value!r} is not an exact amount: {error}") from None


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, AttributeError):
        raise SettlementUnavailable(f"PayPal date {text!r} is not RFC 3339") from None


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def transactions_report(*, pages: list[dict[str, Any]], start: datetime, end: datetime) -> SettlementReport:
    """Pages of Transaction Search answers (from the API, or a saved file) as one report."""
    lines: list[SettlementLine] = []
    payouts: list[SettlementPayout] = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("transaction_details"), list):
            raise SettlementUnavailable("not a Transaction Search answer (no transaction_details)")
        for detail in page["transaction_details"]:
            info = detail.get("transaction_info") or {}
            amount, currency = _money(info.get("transaction_amount"), "transaction_amount")
            fee, _ = _money(info.get("fee_amount"), "fee_amount")
            created = _when(info.get("transaction_initiation_date", ""))
            status = STATUSES.get(info.get("transaction_status", ""), "pending")
            kind = event_kind(str(info.get("transaction_event_code", "")))
            if kind is None:
                payouts.append(
                    SettlementPayout(
                        payout_id=info["transaction_id"],
                        amount=-amount,
                        currency=currency,
                        status={"succeeded": "paid", "pending": "in_transit"}.get(status, "failed"),
                        created=created,
                        arrival=_when(info["transaction_updated_date"])
                        if info.get("transaction_updated_date")
                        else None,
                    )
                )
                continue
            lines.append(
                SettlementLine(
                    line_id=info["transaction_id"],
                    kind=kind,
                    processor_reference=info["transaction_id"],
                    amount=amount,
                    fee=-fee,  # PayPal reports the fee it keeps as a negative amount
                    net=amount + fee,
                    currency=currency,
                    created=created,
                    status=status,
                    gateway_reference=info.get("custom_field") or None,
                    charge_reference=info.get("paypal_reference_id") or None,
                )
            )
    return SettlementReport(processor="paypal", start=start, end=end, lines=tuple(lines), payouts=tuple(payouts))


def paypal_settlement_report(client, *, start: datetime, end: datetime) -> SettlementReport:
    pages: list[dict[str, Any]] = []
    page_number, total = 1, 1
    while page_number <= total:
        if page_number > MAX_PAGES:
            raise SettlementUnavailable(f"PayPal Transaction Search: more than {MAX_PAGES} pages")
        query = urlencode(
            {
                "start_date": rfc3339(start),
                "end_date": rfc3339(end),
                "fields": "all",
                "page_size": PAGE_SIZE,
                "page": page_number,
            }
        )
        reply = client.read(f"/v1/reporting/transactions?{query}")
        if not isinstance(reply, Reply) or reply.status != 200 or not isinstance(reply.body, dict):
            detail = getattr(reply, "message", None) or getattr(reply, "text", "")[:200]
            raise SettlementUnavailable(f"PayPal Transaction Search did not answer page {page_number}: {detail}")
        pages.append(reply.body)
        total = int(reply.body.get("total_pages") or 1)
        page_number += 1
    return transactions_report(pages=pages, start=start, end=end)
