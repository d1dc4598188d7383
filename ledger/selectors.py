"""Reads of the books, for the payments app's ``ledger_check``, finance's commands and admin.

Amounts are integers in the currency's minor unit. "Captured" and "refunded" are read from the
lines on ``merchant_balance`` (what the books say the merchant gained or gave back), not from the
payments app's own counters: that is the independent side of the reconciliation.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from .models import ACCOUNT_TYPES, DEBIT_NORMAL_TYPES, AccountCode, EntryKind, JournalEntry, JournalLine, LedgerAccount


class LedgerIntegrityError(RuntimeError):
    """The books contradict an invariant the database and the services enforce (e.g. tampering)."""


class PaymentLedgerTotals(NamedTuple):
    currency: str
    captured: int
    refunded: int


@dataclass(frozen=True)
class AccountBalance:
    code: str
    type: str
    currency: str
    debits: int
    credits: int
    balance: int  # on the account's normal side: positive = what an asset holds / a liability owes


@dataclass(frozen=True)
class TrialBalanceRow:
    merchant_id: str
    currency: str
    debits: int
    credits: int

    @property
    def difference(self) -> int:
        return self.debits - self.credits


@dataclass(frozen=True)
class LedgerReportRow:
    merchant_id: str
    currency: str
    captured: int
    refunded: int
    net: int
    capture_entries: int
    refund_entries: int
    entries: int


@dataclass(frozen=True)
class LedgerProblem:
    # entry_unbalanced | entry_foreign_account | operation_posted_twice | trial_balance_nonzero |
    # payment_mixed_currencies | payment_over_refunded (see ledger_problems)
    code: str
    subject: str  # the entry id, payment id or "merchant_id currency" concerned
    detail: str


def _merchant_balance_lines():
    return JournalLine.objects.filter(account__code=AccountCode.MERCHANT_BALANCE).order_by()


def payment_ledger_net(*, payment_id: str, merchant_id: str | None = None) -> dict[str, int]:
    """Currency -> captured minus refunded for one payment, per the ledger ({} when nothing is posted)."""
    lines = _merchant_balance_lines().filter(entry__payment_id=payment_id)
    if merchant_id is not None:
        lines = lines.filter(entry__merchant_id=merchant_id)
    rows = lines.values("entry__currency").annotate(net=Sum("credit") - Sum("debit"))
    return {row["entry__currency"]: row["net"] for row in rows}


def payment_ledger_totals(
    *, merchant_id: str | None = None, payment_ids: Iterable[str] | None = None, excluding: Iterable[str] = ()
) -> dict[str, PaymentLedgerTotals]:
    """Payment id -> (currency, captured, refunded) for every payment with postings (optionally
    filtered; ``excluding`` leaves out payments known to be unreadable, e.g. booked in two
    currencies, which otherwise raise ``LedgerIntegrityError``)."""
    lines = _merchant_balance_lines()
    if merchant_id is not None:
        lines = lines.filter(entry__merchant_id=merchant_id)
    if payment_ids is not None:
        lines = lines.filter(entry__payment_id__in=list(payment_ids))
    excluded = list(excluding)
    if excluded:
        lines = lines.exclude(entry__payment_id__in=excluded)
    rows = lines.values("entry__payment_id", "entry__currency", "entry__kind").annotate(
        net=Sum("credit") - Sum("debit")
    )
    totals: dict[str, list] = {}
    for row in rows:
        payment_id, currency = row["entry__payment_id"], row["entry__currency"]
        current = totals.setdefault(payment_id, [currency, 0, 0])
        if current[0] != currency:
            raise LedgerIntegrityError(f"payment {payment_id} has entries in {current[0]} and {currency}")
        if row["entry__kind"] == EntryKind.CAPTURE:
            current[1] += row["net"]
        elif row["entry__kind"] == EntryKind.REFUND:
            current[2] -= row["net"]
    return {payment_id: PaymentLedgerTotals(*values) for payment_id, values in totals.items()}


def payment_ledger_mismatches(
    *, expected: Mapping[str, tuple[str, int, int]], merchant_id: str | None = None
) -> list[LedgerProblem]:
    """Compare another app's figures, payment id -> (currency, captured, refunded), with the ledger's.

    The building block of payments' ``ledger_check``: a payment that captured nothing must have no
    entries; any other must be booked with exactly its currency, captured and refunded amounts.
    """
    booked = payment_ledger_totals(merchant_id=merchant_id, payment_ids=expected.keys())
    problems = []
    for payment_id, (currency, captured, refunded) in sorted(expected.items()):
        actual = booked.get(payment_id)
        if actual is None and not captured and not refunded:
            continue
        if actual is None or tuple(actual) != (currency, captured, refunded):
            ledger_says = "nothing" if actual is None else f"{actual.currency} {actual.captured}/{actual.refunded}"
            problems.append(
                LedgerProblem(
                    "payment_ledger_mismatch",
                    payment_id,
                    f"captured/refunded: payment says {currency} {captured}/{refunded}, ledger says {ledger_says}",
                )
            )
    return problems


def journal_entries_for_payment(*, payment_id: str, merchant_id: str | None = None) -> list[JournalEntry]:
    """The payment's entries, oldest first, with their lines and accounts."""
    entries = JournalEntry.objects.filter(payment_id=payment_id)
    if merchant_id is not None:
        entries = entries.filter(merchant_id=merchant_id)
    return list(entries.order_by("id").prefetch_related("lines__account"))


def _entries(merchant_id: str | None):
    entries = JournalEntry.objects.order_by()
    return entries if merchant_id is None else entries.filter(merchant_id=merchant_id)


def unbalanced_entries(*, merchant_id: str | None = None) -> list[str]:
    """Ids of entries whose debits differ from their credits or amount, or with fewer than two lines.

    Always empty unless the database's balance trigger was bypassed; ``ledger_verify`` reports it.
    """
    rows = (
        _entries(merchant_id)
        .annotate(
            line_count=Count("lines"),
            debits=Coalesce(Sum("lines__debit"), Value(0)),
            credits=Coalesce(Sum("lines__credit"), Value(0)),
        )
        .filter(Q(line_count__lt=2) | ~Q(debits=F("credits")) | ~Q(debits=F("amount")))
        .order_by("id")
    )
    return list(rows.values_list("id", flat=True))


def entries_with_foreign_accounts(*, merchant_id: str | None = None) -> list[str]:
    """Ids of entries with a line on another merchant's or another currency's account."""
    lines = JournalLine.objects.filter(
        ~Q(account__merchant_id=F("entry__merchant_id")) | ~Q(account__currency=F("entry__currency"))
    ).order_by()
    if merchant_id is not None:
        lines = lines.filter(entry__merchant_id=merchant_id)
    return sorted(set(lines.values_list("entry_id", flat=True)))


def operations_posted_twice(*, merchant_id: str | None = None) -> list[tuple[str, str, str, int]]:
    """(payment id, kind, operation reference, entries) for every operation posted more than once.

    Always empty unless the database's unique constraint was bypassed; ``ledger_verify`` reports it.
    """
    rows = (
        _entries(merchant_id)
        .values("payment_id", "kind", "operation_ref")
        .annotate(entries=Count("id"))
        .filter(entries__gt=1)
        .order_by("payment_id", "kind", "operation_ref")
    )
    return [(row["payment_id"], row["kind"], row["operation_ref"], row["entries"]) for row in rows]


def trial_balance(*, merchant_id: str | None = None) -> list[TrialBalanceRow]:
    """Total debits and credits per merchant and currency over all accounts (equal in sound books)."""
    lines = JournalLine.objects.order_by()
    if merchant_id is not None:
        lines = lines.filter(account__merchant_id=merchant_id)
    rows = (
        lines.values("account__merchant_id", "account__currency")
        .annotate(debits=Sum("debit"), credits=Sum("credit"))
        .order_by("account__merchant_id", "account__currency")
    )
    return [
        TrialBalanceRow(row["account__merchant_id"], row["account__currency"], row["debits"], row["credits"])
        for row in rows
    ]


def account_balances(*, merchant_id: str, currency: str | None = None) -> list[AccountBalance]:
    """The merchant's accounts with their turnover and balance, by currency then chart order."""
    accounts = LedgerAccount.objects.filter(merchant_id=merchant_id)
    if currency is not None:
        accounts = accounts.filter(currency=currency.upper())
    rows = accounts.annotate(
        debits=Coalesce(Sum("lines__debit"), Value(0)), credits=Coalesce(Sum("lines__credit"), Value(0))
    )
    chart_order = list(ACCOUNT_TYPES)
    result = [
        AccountBalance(
            code=a.code,
            type=a.type,
            currency=a.currency,
            debits=a.debits,
            credits=a.credits,
            balance=a.debits - a.credits if a.type in DEBIT_NORMAL_TYPES else a.credits - a.debits,
        )
        for a in rows
    ]
    return sorted(
        result, key=lambda b: (b.currency, chart_order.index(b.code) if b.code in chart_order else 99, b.code)
    )


def ledger_report(
    *, merchant_id: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[LedgerReportRow]:
    """Per merchant and currency: captured, refunded, net and entry counts for entries created in
    [since, until). Entry amounts equal their lines (the balance trigger checks it at commit)."""
    entries = _entries(merchant_id)
    if since is not None:
        entries = entries.filter(created__gte=since)
    if until is not None:
        entries = entries.filter(created__lt=until)
    rows = entries.values("merchant_id", "currency", "kind").annotate(total=Sum("amount"), count=Count("id"))
    books: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        book = books.setdefault((row["merchant_id"], row["currency"]), {})
        book[row["kind"]] = row["total"]
        book[f"{row['kind']}_count"] = row["count"]
    report = []
    for (mid, cur), book in sorted(books.items()):
        captured, refunded = book.get(EntryKind.CAPTURE, 0), book.get(EntryKind.REFUND, 0)
        capture_count, refund_count = book.get("capture_count", 0), book.get("refund_count", 0)
        report.append(
            LedgerReportRow(
                merchant_id=mid,
                currency=cur,
                captured=captured,
                refunded=refunded,
                net=captured - refunded,
                capture_entries=capture_count,
                refund_entries=refund_count,
                entries=sum(v for k, v in book.items() if k.endswith("_count")),
            )
        )
    return report


def ledger_problems(*, merchant_id: str | None = None) -> list[LedgerProblem]:
    """Every ledger-side invariant violation; empty for sound books.

    * each entry balances (debits = credits = amount, at least two lines) and uses only accounts of
      its own merchant and currency;
    * each capture or refund operation is posted at most once;
    * the trial balance of each merchant and currency is zero;
    * each payment is booked in one currency and its refunds never exceed its captures.
    """
    problems = [
        LedgerProblem("entry_unbalanced", entry_id, "debits, credits and amount differ, or fewer than 2 lines")
        for entry_id in unbalanced_entries(merchant_id=merchant_id)
    ]
    problems += [
        LedgerProblem("entry_foreign_account", entry_id, "a line posts to another merchant's or currency's account")
        for entry_id in entries_with_foreign_accounts(merchant_id=merchant_id)
    ]
    problems += [
        LedgerProblem("operation_posted_twice", payment_id, f"{kind} {operation_ref} is posted {entries} times")
        for payment_id, kind, operation_ref, entries in operations_posted_twice(merchant_id=merchant_id)
    ]
    problems += [
        LedgerProblem(
            "trial_balance_nonzero",
            f"{row.merchant_id} {row.currency}",
            f"debits {row.debits} - credits {row.credits} = {row.difference}",
        )
        for row in trial_balance(merchant_id=merchant_id)
        if row.difference != 0
    ]
    return problems + _payment_problems(merchant_id=merchant_id)


def _payment_problems(*, merchant_id: str | None) -> list[LedgerProblem]:
    """Payments booked in several currencies, or refunded beyond their captures."""
    per_payment = (
        _entries(merchant_id)
        .values("payment_id")
        .annotate(
            currencies=Count("currency", distinct=True),
            captured=Coalesce(Sum("amount", filter=Q(kind=EntryKind.CAPTURE)), Value(0)),
            refunded=Coalesce(Sum("amount", filter=Q(kind=EntryKind.REFUND)), Value(0)),
        )
        .filter(Q(currencies__gt=1) | Q(refunded__gt=F("captured")))
        .order_by("payment_id")
    )
    problems = []
    for row in per_payment:
        if row["currencies"] > 1:
            problems.append(
                LedgerProblem("payment_mixed_currencies", row["payment_id"], "entries in several currencies")
            )
        else:
            problems.append(
                LedgerProblem(
                    "payment_over_refunded",
                    row["payment_id"],
                    f"refunded {row['refunded']} exceeds captured {row['captured']}",
                )
            )
    return problems


def ledger_counts(*, merchant_id: str | None = None) -> dict[str, int]:
    accounts, lines = LedgerAccount.objects.all(), JournalLine.objects.all()
    if merchant_id is not None:
        accounts, lines = accounts.filter(merchant_id=merchant_id), lines.filter(entry__merchant_id=merchant_id)
    return {"accounts": accounts.count(), "entries": _entries(merchant_id).count(), "lines": lines.count()}
