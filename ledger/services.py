"""Posting to the books. Other apps call these; nothing else writes ledger rows.

Every posting runs inside the caller's transaction (the one that changes the payment or refund), so
the books and the business state commit or roll back together. Callers hold the payment's row lock
(lock order: order -> payment -> refund -> ledger); on PostgreSQL the ledger also takes a
transaction-scoped advisory lock per payment, so its own checks (no refund above what was captured,
one merchant and one currency per payment) hold even for a caller that forgot its lock. No account
row is ever locked or updated: balances are sums of lines, so postings for one merchant never queue
behind each other.

A capture (the hot path: one per paid payment) is posted in one statement: entry and lines in a CTE,
at most once per operation by the unique constraint ``ledger_entry_unique_operation`` (ON CONFLICT
DO NOTHING), and only when the payment has no entry under another merchant or currency. When that
statement inserts nothing, the full path (advisory lock, history) answers: the same figures return
the entry already posted, other figures are refused (409).
"""

from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction
from django.utils import timezone

from gateway.errors import Conflict, InvalidRequest
from gateway.money import MAX_AMOUNT, amount_validate, currency_validate
from merchants.selectors import merchant_get

from .models import ACCOUNT_TYPES, PAYOUT_KINDS, AccountCode, EntryKind, JournalEntry, JournalLine, LedgerAccount

# (account debited, account credited) per kind of entry with one debit and one credit line. Disputes
# have their own two-account rule (``DISPUTE_LINES``).
POSTING_RULES: dict[str, tuple[str, str]] = {
    EntryKind.CAPTURE: (AccountCode.PROCESSOR_RECEIVABLE, AccountCode.MERCHANT_BALANCE),
    EntryKind.REFUND: (AccountCode.MERCHANT_BALANCE, AccountCode.PROCESSOR_RECEIVABLE),
    EntryKind.FEE: (AccountCode.PROCESSOR_FEES, AccountCode.PROCESSOR_RECEIVABLE),
    EntryKind.FEE_REVERSAL: (AccountCode.PROCESSOR_RECEIVABLE, AccountCode.PROCESSOR_FEES),
    EntryKind.PAYOUT: (AccountCode.PAYOUTS_IN_TRANSIT, AccountCode.PROCESSOR_RECEIVABLE),
    EntryKind.PAYOUT_PAID: (AccountCode.BANK, AccountCode.PAYOUTS_IN_TRANSIT),
    EntryKind.PAYOUT_FAILED: (AccountCode.PROCESSOR_RECEIVABLE, AccountCode.PAYOUTS_IN_TRANSIT),
}

# A line: (account code, debit, credit).
Line = tuple[str, int, int]


class LedgerPostingError(Conflict):
    """The books refuse a posting: it contradicts what was already posted for the payment.

    Reaching this is a bug in the caller (payments checks the same rules first); as an ApiError it
    rolls the caller's transaction back and answers 409 instead of a 500.
    """

    code = "ledger_posting_rejected"


def ledger_post_capture(
    *, merchant_id: str, payment_id: str, capture_ref: str, amount: int, currency: str, description: str = ""
) -> JournalEntry:
    """Record captured money: Dr processor_receivable, Cr merchant_balance.

    ``capture_ref`` names the capture operation (e.g. the payment attempt id, or the payment id for a
    payment captured once). Posting the same ``capture_ref`` again returns the existing entry; with a
    different amount or currency it raises ``LedgerPostingError``.
    """
    return _post(
        kind=EntryKind.CAPTURE,
        merchant_id=merchant_id,
        payment_id=payment_id,
        operation_ref=capture_ref,
        operation_param="capture_ref",
        refund_id="",
        amount=amount,
        currency=currency,
        description=description or f"Capture {capture_ref} of payment {payment_id}",
    )


def ledger_post_refund(
    *, merchant_id: str, payment_id: str, refund_id: str, amount: int, currency: str, description: str = ""
) -> JournalEntry:
    """Record refunded money (post when the refund succeeds): Dr merchant_balance, Cr processor_receivable.

    Refused with ``LedgerPostingError`` when the payment's refunds would exceed its captures in the
    ledger, or the currency differs from the captures'. Idempotent per ``refund_id`` like captures.
    """
    return _post(
        kind=EntryKind.REFUND,
        merchant_id=merchant_id,
        payment_id=payment_id,
        operation_ref=refund_id,
        operation_param="refund_id",
        refund_id=refund_id,
        amount=amount,
        currency=currency,
        description=description or f"Refund {refund_id} of payment {payment_id}",
    )


def ledger_post_fee(
    *,
    merchant_id: str,
    payment_id: str,
    fee_ref: str,
    amount: int,
    currency: str,
    occurred_at: datetime | None = None,
    description: str = "",
) -> JournalEntry:
    """Record a processor fee on a payment, from settlement data: Dr processor_fees, Cr
    processor_receivable. ``amount`` is signed as the processor reports it: positive, a fee kept;
    negative, a fee returned (posted as ``fee_reversal``). ``fee_ref`` is the settlement line's id
    (a Stripe balance transaction, a PayPal transaction); posting it again is idempotent."""
    amount = amount_validate(amount, minimum=-MAX_AMOUNT)
    if amount == 0:
        raise InvalidRequest("A fee of 0 is not posted.", param="amount")
    return _post(
        kind=EntryKind.FEE if amount > 0 else EntryKind.FEE_REVERSAL,
        merchant_id=merchant_id,
        payment_id=payment_id,
        operation_ref=fee_ref,
        operation_param="fee_ref",
        amount=abs(amount),
        currency=currency,
        occurred_at=occurred_at,
        description=description or f"Processor fee {fee_ref} on payment {payment_id}",
    )


def ledger_post_dispute(
    *,
    merchant_id: str,
    payment_id: str,
    dispute_id: str,
    amount: int,
    currency: str,
    fee: int = 0,
    occurred_at: datetime | None = None,
    description: str = "",
) -> JournalEntry:
    """A dispute opened: the processor withdrew ``amount`` (and a dispute ``fee``) from our balance.
    Dr disputes ``amount`` + Dr processor_fees ``fee`` / Cr processor_receivable ``amount + fee``.

    Posted once per ``dispute_id`` (a repeat with the same figures returns the entry). Refused when
    the payment's open disputes would exceed what it has captured and not refunded in the ledger.
    """
    return _post_dispute(
        kind=EntryKind.DISPUTE,
        merchant_id=merchant_id,
        payment_id=payment_id,
        dispute_id=dispute_id,
        amount=amount,
        currency=currency,
        fee=fee,
        occurred_at=occurred_at,
        description=description or f"Dispute {dispute_id} on payment {payment_id}",
    )


def ledger_post_dispute_won(
    *,
    merchant_id: str,
    payment_id: str,
    dispute_id: str,
    amount: int,
    currency: str,
    fee: int = 0,
    occurred_at: datetime | None = None,
    description: str = "",
) -> JournalEntry:
    """A dispute won: the processor reinstated ``amount`` (and returned ``fee`` of the dispute fee,
    0 when it keeps it). Dr processor_receivable / Cr disputes, Cr processor_fees; the reverse of
    ``ledger_post_dispute``, never more than it posted. Once per ``dispute_id``; a lost dispute
    posts nothing (the withdrawal stands)."""
    return _post_dispute(
        kind=EntryKind.DISPUTE_REVERSAL,
        merchant_id=merchant_id,
        payment_id=payment_id,
        dispute_id=dispute_id,
        amount=amount,
        currency=currency,
        fee=fee,
        occurred_at=occurred_at,
        description=description or f"Dispute {dispute_id} won on payment {payment_id}",
    )


def _post_dispute(
    *,
    kind: str,
    merchant_id: str,
    payment_id: str,
    dispute_id: str,
    amount: int,
    currency: str,
    fee: int,
    occurred_at: datetime | None,
    description: str,
) -> JournalEntry:
    amount = amount_validate(amount, minimum=1)
    fee = amount_validate(fee, minimum=0, param="fee")
    if kind == EntryKind.DISPUTE:
        lines = [(AccountCode.DISPUTES, amount, 0), (AccountCode.PROCESSOR_RECEIVABLE, 0, amount + fee)]
        if fee:
            lines.insert(1, (AccountCode.PROCESSOR_FEES, fee, 0))
    else:
        lines = [(AccountCode.PROCESSOR_RECEIVABLE, amount + fee, 0), (AccountCode.DISPUTES, 0, amount)]
        if fee:
            lines.append((AccountCode.PROCESSOR_FEES, 0, fee))
    return _post(
        kind=kind,
        merchant_id=merchant_id,
        payment_id=payment_id,
        operation_ref=dispute_id,
        operation_param="dispute_id",
        amount=amount + fee,
        currency=currency,
        occurred_at=occurred_at,
        description=description,
        lines=lines,
    )


def ledger_post_payout(
    *,
    merchant_id: str,
    payout_id: str,
    amount: int,
    currency: str,
    status: str,
    created_at: datetime | None = None,
    arrived_at: datetime | None = None,
) -> list[JournalEntry]:
    """A processor payout, from its settlement data: ``payout`` (receivable -> in transit) when it
    exists, then ``payout_paid`` (in transit -> bank) once ``status`` is ``paid``, or
    ``payout_failed`` (back to the receivable) once it is ``failed``/``canceled``. Each at most once
    per payout; calling again as the payout progresses posts only what is new. Returns the
    payout's entries."""
    if status not in PAYOUT_STATUSES:
        raise InvalidRequest(f"status must be one of {sorted(PAYOUT_STATUSES)}, not {status!r}.", param="status")
    common = {
        "merchant_id": merchant_id,
        "payment_id": "",
        "operation_ref": payout_id,
        "operation_param": "payout_id",
        "amount": amount,
        "currency": currency,
    }
    entries = [_post(kind=EntryKind.PAYOUT, occurred_at=created_at, description=f"Payout {payout_id}", **common)]
    if status == "paid":
        entries.append(
            _post(
                kind=EntryKind.PAYOUT_PAID, occurred_at=arrived_at, description=f"Payout {payout_id} arrived", **common
            )
        )
    elif status in ("failed", "canceled"):
        entries.append(
            _post(
                kind=EntryKind.PAYOUT_FAILED,
                occurred_at=arrived_at,
                description=f"Payout {payout_id} {status}",
                **common,
            )
        )
    return entries


# The processors' payout statuses (Stripe's words; PayPal and the sandbox are mapped onto them).
PAYOUT_STATUSES = frozenset({"pending", "in_transit", "paid", "failed", "canceled"})


def _post(
    *,
    kind: str,
    merchant_id: str,
    payment_id: str,
    operation_ref: str,
    operation_param: str,
    amount: int,
    currency: str,
    description: str,
    refund_id: str = "",
    occurred_at: datetime | None = None,
    lines: list[Line] | None = None,
) -> JournalEntry:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger postings must run inside the transaction.atomic of the change they record")
    amount = amount_validate(amount, minimum=1)
    currency = currency_validate(currency)
    _reference_validate(merchant_id, "merchant_id", _max_length("payment_id"))
    if kind not in PAYOUT_KINDS:
        _reference_validate(payment_id, "payment_id", _max_length("payment_id"))
    _reference_validate(operation_ref, operation_param, _max_length("refund_id" if refund_id else "operation_ref"))

    if kind == EntryKind.CAPTURE and lines is None and connection.vendor == "postgresql":
        posted = _capture_insert(
            merchant_id=merchant_id,
            payment_id=payment_id,
            operation_ref=operation_ref,
            amount=amount,
            currency=currency,
            description=description,
            occurred_at=occurred_at,
        )
        if posted is not None:
            return posted
        # Nothing inserted: the operation is posted already, or the payment is booked under another
        # merchant or currency. The full path below says which (the entry, or a 409).

    if kind in PAYOUT_KINDS:
        _lock(f"ledger:payout:{merchant_id}:{operation_ref}")
        history = list(
            JournalEntry.objects.filter(merchant_id=merchant_id, payment_id="", operation_ref=operation_ref).order_by(
                "id"
            )
        )
    else:
        _lock(f"ledger:payment:{payment_id}")
        history = list(JournalEntry.objects.filter(payment_id=payment_id).order_by("id"))

    for entry in history:
        if entry.merchant_id != merchant_id:
            raise LedgerPostingError(f"Payment {payment_id} is booked under another merchant.")
    for entry in history:
        if entry.kind == kind and entry.operation_ref == operation_ref:
            if (entry.amount, entry.currency) != (amount, currency):
                raise LedgerPostingError(
                    f"{kind} {operation_ref} of payment {payment_id} is already posted as "
                    f"{entry.amount} {entry.currency}, not {amount} {currency}."
                )
            return entry  # the same operation posted again: idempotent
    if any(entry.currency != currency for entry in history):
        raise LedgerPostingError(f"{operation_ref} is booked in {history[0].currency}, not {currency}.")
    _rules_check(
        kind=kind,
        history=history,
        amount=amount,
        currency=currency,
        payment_id=payment_id,
        operation_ref=operation_ref,
        lines=lines,
    )

    if lines is None:
        debit_code, credit_code = POSTING_RULES[kind]
        lines = [(debit_code, amount, 0), (credit_code, 0, amount)]
    accounts = _accounts(merchant_id=merchant_id, currency=currency, codes={code for code, _, _ in lines})
    entry = JournalEntry.objects.create(
        merchant_id=merchant_id,
        kind=kind,
        currency=currency,
        amount=amount,
        payment_id=payment_id,
        refund_id=refund_id,
        operation_ref=operation_ref,
        description=description[:255],
        occurred_at=occurred_at,
    )
    JournalLine.objects.bulk_create(
        [
            JournalLine(
                merchant_id=entry.merchant_id, entry=entry, account_id=accounts[code], debit=debit, credit=credit
            )
            for code, debit, credit in lines
        ]
    )
    return entry


_ENTRY_FIELDS = (
    "id",
    "merchant",
    "kind",
    "currency",
    "amount",
    "payment_id",
    "refund_id",
    "operation_ref",
    "description",
    "occurred_at",
    "created",
)


def _capture_insert(
    *,
    merchant_id: str,
    payment_id: str,
    operation_ref: str,
    amount: int,
    currency: str,
    description: str,
    occurred_at: datetime | None,
) -> JournalEntry | None:
    """A capture's entry and its two lines in one statement (PostgreSQL). None when nothing was
    inserted: the operation already has an entry (the unique constraint), or the payment has one
    under another merchant or in another currency. The balance trigger checks the lines at COMMIT
    as for any posting."""
    debit_code, credit_code = POSTING_RULES[EntryKind.CAPTURE]
    accounts = _accounts(merchant_id=merchant_id, currency=currency, codes={debit_code, credit_code})
    entry = JournalEntry(
        merchant_id=merchant_id,
        kind=EntryKind.CAPTURE,
        currency=currency,
        amount=amount,
        payment_id=payment_id,
        refund_id="",
        operation_ref=operation_ref,
        description=description[:255],
        occurred_at=occurred_at,
        created=timezone.now(),
    )
    fields = [JournalEntry._meta.get_field(name) for name in _ENTRY_FIELDS]
    values = [field.get_db_prep_save(getattr(entry, field.attname), connection) for field in fields]
    # Column names come from the model's metadata; every value is a parameter.
    sql = (
        f"WITH entry AS (INSERT INTO ledger_journal_entry ({', '.join(field.column for field in fields)}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(fields))} "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger_journal_entry WHERE payment_id = %s "
        "AND (merchant_id <> %s OR currency <> %s)) "
        "ON CONFLICT ON CONSTRAINT ledger_entry_unique_operation DO NOTHING RETURNING id) "
        "INSERT INTO ledger_journal_line (merchant_id, entry_id, account_id, debit, credit) "
        "SELECT %s, entry.id, line.account_id, line.debit, line.credit FROM entry "
        "CROSS JOIN (VALUES (%s::bigint, %s::bigint, %s::bigint), (%s::bigint, %s::bigint, %s::bigint)) "
        "AS line (account_id, debit, credit) RETURNING entry_id"
    )
    params = [
        *values,
        payment_id,
        merchant_id,
        currency,
        merchant_id,
        accounts[debit_code],
        amount,
        0,
        accounts[credit_code],
        0,
        amount,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not cursor.fetchall():
            return None
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


def _rules_check(
    *,
    kind: str,
    history: list[JournalEntry],
    amount: int,
    currency: str,
    payment_id: str,
    operation_ref: str,
    lines: list[Line] | None,
) -> None:
    """What each kind may not do given the entries already posted (the database cannot see these)."""

    def total(*kinds: str) -> int:
        return sum(e.amount for e in history if e.kind in kinds)

    def disputed_amount(kinds: tuple[str, ...]) -> int:
        # An entry's amount includes its fee; the disputed part is on the disputes account.
        return sum(_disputes_line(e) for e in history if e.kind in kinds)

    if kind == EntryKind.REFUND:
        captured, refunded = total(EntryKind.CAPTURE), total(EntryKind.REFUND)
        if refunded + amount > captured:
            raise LedgerPostingError(
                f"Refund {operation_ref} of {amount} {currency} exceeds what payment {payment_id} has left "
                f"in the ledger ({captured - refunded} {currency})."
            )
    elif kind == EntryKind.DISPUTE:
        disputed = disputed_amount((EntryKind.DISPUTE,)) - disputed_amount((EntryKind.DISPUTE_REVERSAL,))
        new = lines[0][1] if lines else amount
        left = total(EntryKind.CAPTURE) - total(EntryKind.REFUND) - disputed
        if new > left:
            raise LedgerPostingError(
                f"Dispute {operation_ref} of {new} {currency} exceeds what payment {payment_id} has captured and "
                f"not refunded or disputed in the ledger ({left} {currency})."
            )
    elif kind == EntryKind.DISPUTE_REVERSAL:
        opened = [e for e in history if e.kind == EntryKind.DISPUTE and e.operation_ref == operation_ref]
        if not opened:
            raise LedgerPostingError(f"Dispute {operation_ref} of payment {payment_id} was never posted as opened.")
        if amount > opened[0].amount or (lines and lines[1][2] > _disputes_line(opened[0])):
            raise LedgerPostingError(
                f"Dispute {operation_ref} reinstates more than it withdrew ({opened[0].amount} {currency})."
            )
    elif kind in (EntryKind.PAYOUT_PAID, EntryKind.PAYOUT_FAILED):
        created = [e for e in history if e.kind == EntryKind.PAYOUT]
        if not created or created[0].amount != amount:
            raise LedgerPostingError(f"Payout {operation_ref} settles {amount} {currency}, not what it paid out.")
        if any(e.kind in (EntryKind.PAYOUT_PAID, EntryKind.PAYOUT_FAILED) for e in history):
            raise LedgerPostingError(f"Payout {operation_ref} is already settled.")


def _disputes_line(entry: JournalEntry) -> int:
    return sum(line.debit + line.credit for line in entry.lines.all() if line.account.code == AccountCode.DISPUTES)


def _max_length(field: str) -> int:
    return JournalEntry._meta.get_field(field).max_length


def _reference_validate(value: object, name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {max_length} characters.", param=name)


def _lock(key: str) -> None:
    """Serialize postings for one payment (or payout) until the transaction ends (PostgreSQL; SQLite
    has one writer)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def _accounts_cache_key(merchant_id: str, currency: str) -> str:
    return f"ledger:accounts:v1:{merchant_id}:{currency}"


def _accounts(*, merchant_id: str, currency: str, codes: set[str]) -> dict[str, int]:
    """Ids of the merchant's accounts in ``currency`` by code (at least ``codes``), each opened on
    its first use.

    Accounts are append-only in the database (never updated or deleted), so once they exist their
    ids never change: they are cached (no expiry needed) after the transaction that read them
    commits. A cache miss or outage falls back to one query.
    """
    key = _accounts_cache_key(merchant_id, currency)
    cached = cache.get(key)
    if isinstance(cached, dict) and all(isinstance(cached.get(code), int) for code in codes):
        return cached
    accounts = _accounts_read(merchant_id=merchant_id, currency=currency)
    missing = [code for code in ACCOUNT_TYPES if code in codes and code not in accounts]
    if missing:
        try:
            merchant_get(merchant_id=merchant_id)
        except ObjectDoesNotExist:
            raise LedgerPostingError(f"No such merchant: {merchant_id}.") from None
        # ignore_conflicts: a concurrent first posting may open the same accounts; both then read them.
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(merchant_id=merchant_id, code=code, type=ACCOUNT_TYPES[code], currency=currency)
                for code in missing
            ],
            ignore_conflicts=True,
        )
        accounts = _accounts_read(merchant_id=merchant_id, currency=currency)
    # Only after commit: accounts opened by a transaction that rolls back must never be cached.
    transaction.on_commit(lambda: cache.set(key, accounts, timeout=None), robust=True)
    return accounts


def _accounts_read(*, merchant_id: str, currency: str) -> dict[str, int]:
    return dict(LedgerAccount.objects.filter(merchant_id=merchant_id, currency=currency).values_list("code", "id"))
