"""Reads of the books, for the payments app's ``ledger_check``, finance's commands and admin.

Amounts are integers in the currency's minor unit. "Captured" and "refunded" are read from the
lines on ``merchant_balance`` (what the books say the merchant gained or gave back), not from the
payments app's own counters: that is the independent side of the reconciliation.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, F, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce

from .models import (
    ACCOUNT_TYPES,
    DEBIT_NORMAL_TYPES,
    PAYOUT_KINDS,
    AccountCode,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)


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
    livemode: bool = False

    @property
    def difference(self) -> int:
        return self.debits - self.credits


@dataclass(frozen=True)
class LedgerReportRow:
    """One merchant and currency over a period, from the lines of each account (minor units):
    ``captured`` (gross) - ``refunded`` - ``fees`` - ``disputes`` = ``net``; of that, ``paid_out``
    reached the bank, ``in_transit`` left the processor, and ``at_processor`` is what the processor
    still owes (net - paid_out - in_transit: the receivable's movement)."""

    merchant_id: str
    currency: str
    captured: int
    refunded: int
    net: int
    capture_entries: int
    refund_entries: int
    entries: int
    fees: int = 0
    disputes: int = 0
    paid_out: int = 0
    in_transit: int = 0
    at_processor: int = 0
    livemode: bool = False  # test and live money are separate books, never one row


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


def dispute_fee_in_books(*, payment_id: str, dispute_id: str) -> int:
    """The fee the books hold for dispute ``dispute_id``: its withdrawal's fee line plus the later
    ``fee`` entries keyed by it (``ledger.services.ledger_post_dispute_fee``)."""
    history = JournalEntry.objects.filter(payment_id=payment_id).prefetch_related("lines__account")
    return dispute_fees_posted(history=list(history), dispute_id=dispute_id)


# A later dispute fee's operation_ref: "<dispute id>:fee:<the dispute's fee total after it>".
DISPUTE_FEE_SEPARATOR = ":fee:"


def dispute_fees_posted(*, history: list[JournalEntry], dispute_id: str) -> int:
    """What ``history`` (a payment's entries) holds as dispute ``dispute_id``'s fee: its
    withdrawal's fee line plus the ``fee`` entries keyed by it."""
    posted = 0
    for entry in history:
        if entry.kind == EntryKind.DISPUTE and entry.operation_ref == dispute_id:
            posted += entry_account_movement(entry, AccountCode.PROCESSOR_FEES)
        elif entry.kind == EntryKind.FEE and entry.operation_ref.startswith(dispute_id + DISPUTE_FEE_SEPARATOR):
            posted += entry.amount
    return posted


def entry_account_movement(entry: JournalEntry, code: str) -> int:
    """What ``entry`` moved on its ``code`` account (debit or credit)."""
    return sum(line.debit + line.credit for line in entry.lines.all() if line.account.code == code)


def payouts_to_follow(*, merchant_id: str, livemode: bool, paid_since: datetime) -> list[tuple[str, datetime]]:
    """(payout id, when it was created) of the merchant's payouts still open in the books: created
    but neither arrived nor failed, or arrived since ``paid_since`` (a payout may still fail after
    it is reported paid). Reconciliation re-reads each by id until it settles."""
    payouts = (
        _entries(merchant_id, livemode)
        .filter(kind__in=sorted(PAYOUT_KINDS))
        .values("operation_ref")
        .annotate(
            created_at=Min(Coalesce("occurred_at", "created"), filter=Q(kind=EntryKind.PAYOUT)),
            paid_at=Max(Coalesce("occurred_at", "created"), filter=Q(kind=EntryKind.PAYOUT_PAID)),
            failed=Count("id", filter=Q(kind=EntryKind.PAYOUT_FAILED)),
        )
        .filter(failed=0, created_at__isnull=False)
        .filter(Q(paid_at__isnull=True) | Q(paid_at__gte=paid_since))
        .order_by("operation_ref")
    )
    return [(row["operation_ref"], row["created_at"]) for row in payouts]


def _entries(merchant_id: str | None, livemode: bool | None = None):
    entries = JournalEntry.objects.order_by()
    if merchant_id is not None:
        entries = entries.filter(merchant_id=merchant_id)
    return entries if livemode is None else entries.filter(livemode=livemode)


def unbalanced_entries(*, merchant_id: str | None = None, livemode: bool | None = None) -> list[str]:
    """Ids of entries whose debits differ from their credits or amount, or with fewer than two lines.

    Always empty unless the database's balance trigger was bypassed; ``ledger_verify`` reports it.
    """
    rows = (
        _entries(merchant_id, livemode)
        .annotate(
            line_count=Count("lines"),
            debits=Coalesce(Sum("lines__debit"), Value(0)),
            credits=Coalesce(Sum("lines__credit"), Value(0)),
        )
        .filter(Q(line_count__lt=2) | ~Q(debits=F("credits")) | ~Q(debits=F("amount")))
        .order_by("id")
    )
    return list(rows.values_list("id", flat=True))


def entries_with_foreign_accounts(*, merchant_id: str | None = None, livemode: bool | None = None) -> list[str]:
    """Ids of entries with a line on another merchant's, currency's or mode's account."""
    lines = JournalLine.objects.filter(
        ~Q(account__merchant_id=F("entry__merchant_id"))
        | ~Q(account__currency=F("entry__currency"))
        | ~Q(account__livemode=F("entry__livemode"))
    ).order_by()
    if merchant_id is not None:
        lines = lines.filter(entry__merchant_id=merchant_id)
    if livemode is not None:
        lines = lines.filter(entry__livemode=livemode)
    return sorted(set(lines.values_list("entry_id", flat=True)))


def operations_posted_twice(
    *, merchant_id: str | None = None, livemode: bool | None = None
) -> list[tuple[str, str, str, int]]:
    """(payment id, kind, operation reference, entries) for every operation posted more than once.

    Always empty unless the database's unique constraint was bypassed; ``ledger_verify`` reports it.
    """
    rows = (
        _entries(merchant_id, livemode)
        .values("payment_id", "kind", "operation_ref")
        .annotate(entries=Count("id"))
        .filter(entries__gt=1)
        .order_by("payment_id", "kind", "operation_ref")
    )
    return [(row["payment_id"], row["kind"], row["operation_ref"], row["entries"]) for row in rows]


def trial_balance(*, merchant_id: str | None = None, livemode: bool | None = None) -> list[TrialBalanceRow]:
    """Total debits and credits per merchant, mode and currency over all accounts (equal in sound
    books: test and live money are separate books, each balanced on its own)."""
    lines = JournalLine.objects.order_by()
    if merchant_id is not None:
        lines = lines.filter(account__merchant_id=merchant_id)
    if livemode is not None:
        lines = lines.filter(account__livemode=livemode)
    rows = (
        lines.values("account__merchant_id", "account__livemode", "account__currency")
        .annotate(debits=Sum("debit"), credits=Sum("credit"))
        .order_by("account__merchant_id", "account__livemode", "account__currency")
    )
    return [
        TrialBalanceRow(
            row["account__merchant_id"],
            row["account__currency"],
            row["debits"],
            row["credits"],
            livemode=row["account__livemode"],
        )
        for row in rows
    ]


def account_balances(*, merchant_id: str, currency: str | None = None, livemode: bool = False) -> list[AccountBalance]:
    """The merchant's accounts of one mode with their turnover and balance, by currency then chart
    order."""
    accounts = LedgerAccount.objects.filter(merchant_id=merchant_id, livemode=livemode)
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
    *,
    merchant_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    livemode: bool | None = None,
) -> list[LedgerReportRow]:
    """Per merchant, mode (never mixed; ``livemode`` filters) and currency, for entries that
    occurred in [since, until) (``occurred_at``, else when posted): gross, refunds, fees, disputes,
    net, paid out, in transit, still at the processor, and entry counts. Computed from the lines of
    each account, so the figures are the books'."""
    entries = _entries(merchant_id, livemode).annotate(at=Coalesce("occurred_at", "created"))
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    counts: dict[tuple[str, bool, str], dict[str, int]] = {}
    for row in entries.values("merchant_id", "livemode", "currency", "kind").annotate(count=Count("id")):
        counts.setdefault((row["merchant_id"], row["livemode"], row["currency"]), {})[row["kind"]] = row["count"]
    lines = JournalLine.objects.order_by().filter(entry__in=entries.values("id"))
    sums = lines.values(
        "entry__merchant_id", "entry__livemode", "entry__currency", "account__code", "entry__kind"
    ).annotate(debits=Sum("debit"), credits=Sum("credit"))
    books: dict[tuple[str, bool, str], dict[str, int]] = {}
    for row in sums:
        book = books.setdefault((row["entry__merchant_id"], row["entry__livemode"], row["entry__currency"]), {})
        code, kind, debits, credits = row["account__code"], row["entry__kind"], row["debits"], row["credits"]
        if code == AccountCode.MERCHANT_BALANCE:
            if kind == EntryKind.CAPTURE:
                book["captured"] = book.get("captured", 0) + credits - debits
            elif kind == EntryKind.REFUND:
                book["refunded"] = book.get("refunded", 0) + debits - credits
        elif code in _REPORT_ACCOUNTS:
            field = _REPORT_ACCOUNTS[code]
            book[field] = book.get(field, 0) + debits - credits
    report = []
    for key in sorted(set(books) | set(counts)):
        book, count = books.get(key, {}), counts.get(key, {})
        captured, refunded = book.get("captured", 0), book.get("refunded", 0)
        fees, disputes = book.get("fees", 0), book.get("disputes", 0)
        report.append(
            LedgerReportRow(
                merchant_id=key[0],
                livemode=key[1],
                currency=key[2],
                captured=captured,
                refunded=refunded,
                net=captured - refunded - fees - disputes,
                capture_entries=count.get(EntryKind.CAPTURE, 0),
                refund_entries=count.get(EntryKind.REFUND, 0),
                entries=sum(count.values()),
                fees=fees,
                disputes=disputes,
                paid_out=book.get("paid_out", 0),
                in_transit=book.get("in_transit", 0),
                at_processor=book.get("at_processor", 0),
            )
        )
    return report


# Report column per account, as the account's debit-normal movement.
_REPORT_ACCOUNTS = {
    AccountCode.PROCESSOR_FEES: "fees",
    AccountCode.DISPUTES: "disputes",
    AccountCode.BANK: "paid_out",
    AccountCode.PAYOUTS_IN_TRANSIT: "in_transit",
    AccountCode.PROCESSOR_RECEIVABLE: "at_processor",
}


def ledger_problems(*, merchant_id: str | None = None, livemode: bool | None = None) -> list[LedgerProblem]:
    """Every ledger-side invariant violation; empty for sound books (``livemode``: one mode's).

    * each entry balances (debits = credits = amount, at least two lines) and uses only accounts of
      its own merchant, mode and currency;
    * each capture or refund operation is posted at most once;
    * the trial balance of each merchant and currency is zero;
    * each payment is booked in one currency and its refunds never exceed its captures;
    * each payout is settled (paid or failed) at most once, for what it paid out; each dispute
      reinstated at most once, for no more than it withdrew, after it was opened.
    """
    problems = [
        LedgerProblem("entry_unbalanced", entry_id, "debits, credits and amount differ, or fewer than 2 lines")
        for entry_id in unbalanced_entries(merchant_id=merchant_id, livemode=livemode)
    ]
    problems += [
        LedgerProblem(
            "entry_foreign_account", entry_id, "a line posts to another merchant's, currency's or mode's account"
        )
        for entry_id in entries_with_foreign_accounts(merchant_id=merchant_id, livemode=livemode)
    ]
    problems += [
        LedgerProblem("operation_posted_twice", payment_id, f"{kind} {operation_ref} is posted {entries} times")
        for payment_id, kind, operation_ref, entries in operations_posted_twice(
            merchant_id=merchant_id, livemode=livemode
        )
    ]
    problems += [
        LedgerProblem(
            "trial_balance_nonzero",
            f"{row.merchant_id} {'live' if row.livemode else 'test'} {row.currency}",
            f"debits {row.debits} - credits {row.credits} = {row.difference}",
        )
        for row in trial_balance(merchant_id=merchant_id, livemode=livemode)
        if row.difference != 0
    ]
    return (
        problems
        + _payment_problems(merchant_id=merchant_id, livemode=livemode)
        + _settlement_problems(merchant_id=merchant_id, livemode=livemode)
    )


def _settlement_problems(*, merchant_id: str | None, livemode: bool | None) -> list[LedgerProblem]:
    """Payouts that arrived or failed more than once, without being created, or for another
    amount (failed after it arrived is legitimate: Stripe's paid -> failed); disputes reinstated
    before they were opened or for more than they withdrew (the services refuse these; only
    tampering reaches them)."""
    problems = []
    paid, failed = Q(kind=EntryKind.PAYOUT_PAID), Q(kind=EntryKind.PAYOUT_FAILED)
    payouts = (
        _entries(merchant_id, livemode)
        .filter(kind__in=[EntryKind.PAYOUT, EntryKind.PAYOUT_PAID, EntryKind.PAYOUT_FAILED])
        .values("merchant_id", "livemode", "operation_ref")
        .annotate(
            created=Coalesce(Sum("amount", filter=Q(kind=EntryKind.PAYOUT)), Value(0)),
            created_count=Count("id", filter=Q(kind=EntryKind.PAYOUT)),
            paid=Coalesce(Sum("amount", filter=paid), Value(0)),
            paid_count=Count("id", filter=paid),
            failed=Coalesce(Sum("amount", filter=failed), Value(0)),
            failed_count=Count("id", filter=failed),
        )
        .filter(
            Q(paid_count__gt=1)
            | Q(failed_count__gt=1)
            | (Q(paid_count__gt=0) | Q(failed_count__gt=0)) & Q(created_count=0)
            | Q(paid_count=1) & ~Q(paid=F("created"))
            | Q(failed_count=1) & ~Q(failed=F("created"))
        )
        .order_by("merchant_id", "operation_ref")
    )
    for row in payouts:
        problems.append(
            LedgerProblem(
                "payout_settled_wrongly",
                f"{row['merchant_id']} {row['operation_ref']}",
                f"paid out {row['created']}, arrived {row['paid_count']} time(s) for {row['paid']}, failed "
                f"{row['failed_count']} time(s) for {row['failed']}",
            )
        )
    disputes = (
        _disputes_lines(merchant_id, livemode)
        .values("entry__payment_id", "entry__operation_ref")
        .annotate(
            withdrawn=Coalesce(Sum("debit", filter=Q(entry__kind=EntryKind.DISPUTE)), Value(0)),
            reinstated=Coalesce(Sum("credit", filter=Q(entry__kind=EntryKind.DISPUTE_REVERSAL)), Value(0)),
            reversals=Count("entry_id", filter=Q(entry__kind=EntryKind.DISPUTE_REVERSAL), distinct=True),
        )
        .filter(Q(reinstated__gt=F("withdrawn")) | Q(reversals__gt=1))
        .order_by("entry__payment_id", "entry__operation_ref")
    )
    for row in disputes:
        problems.append(
            LedgerProblem(
                "dispute_over_reinstated",
                row["entry__payment_id"],
                f"dispute {row['entry__operation_ref']} withdrew {row['withdrawn']}, reinstated "
                f"{row['reinstated']} in {row['reversals']} entries",
            )
        )
    return problems


def _disputes_lines(merchant_id: str | None, livemode: bool | None):
    lines = JournalLine.objects.filter(account__code=AccountCode.DISPUTES).order_by()
    if livemode is not None:
        lines = lines.filter(entry__livemode=livemode)
    return lines if merchant_id is None else lines.filter(entry__merchant_id=merchant_id)


def _payment_problems(*, merchant_id: str | None, livemode: bool | None) -> list[LedgerProblem]:
    """Payments booked in several currencies, or refunded beyond their captures."""
    per_payment = (
        _entries(merchant_id, livemode)
        .exclude(kind__in=sorted(PAYOUT_KINDS))
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


def ledger_counts(*, merchant_id: str | None = None, livemode: bool | None = None) -> dict[str, int]:
    accounts, lines = LedgerAccount.objects.all(), JournalLine.objects.all()
    if merchant_id is not None:
        accounts, lines = accounts.filter(merchant_id=merchant_id), lines.filter(entry__merchant_id=merchant_id)
    if livemode is not None:
        accounts, lines = accounts.filter(livemode=livemode), lines.filter(entry__livemode=livemode)
    return {"accounts": accounts.count(), "entries": _entries(merchant_id, livemode).count(), "lines": lines.count()}
