"""The one way a posting is written: validation, the at-most-once rule, each kind's rules against
the payment's history, and the capture's one-statement fast path (see the package docstring)."""

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from gateway.errors import InvalidRequest
from gateway.money import amount_validate, currency_validate

from ..models import PAYOUT_KINDS, AccountCode, EntryKind, JournalEntry, JournalLine
from ..selectors import dispute_fees_posted, entry_account_movement
from .accounts import _accounts
from .errors import LedgerPostingError

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


PAYOUT_STATUSES = frozenset({"pending", "in_transit", "paid", "failed", "canceled"})


def _post(
    *,
    kind: str,
    merchant_id: str,
    livemode: bool,
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

    if not isinstance(livemode, bool):
        raise InvalidRequest("livemode must be true or false.", param="livemode")

    if kind == EntryKind.CAPTURE and lines is None and connection.vendor == "postgresql":
        posted = _capture_insert(
            merchant_id=merchant_id,
            livemode=livemode,
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
        # merchant, mode or currency. The full path below says which (the entry, or a 409).

    if kind in PAYOUT_KINDS:
        _lock(f"ledger:payout:{merchant_id}:{livemode}:{operation_ref}")
        history = list(
            JournalEntry.objects.filter(
                merchant_id=merchant_id, livemode=livemode, payment_id="", operation_ref=operation_ref
            ).order_by("id")
        )
    else:
        _lock(f"ledger:payment:{payment_id}")
        history = list(JournalEntry.objects.filter(payment_id=payment_id).order_by("id"))

    for entry in history:
        if entry.merchant_id != merchant_id:
            raise LedgerPostingError(f"Payment {payment_id} is booked under another merchant.")
        if entry.livemode != livemode:
            mode = "live" if entry.livemode else "test"
            raise LedgerPostingError(f"Payment {payment_id} is booked in {mode} mode.")
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

    if lines is None and kind == EntryKind.PAYOUT_FAILED and any(e.kind == EntryKind.PAYOUT_PAID for e in history):
        # Failed after it arrived (paid -> failed): the money leaves the bank back to the processor.
        lines = [(AccountCode.PROCESSOR_RECEIVABLE, amount, 0), (AccountCode.BANK, 0, amount)]
    if lines is None:
        debit_code, credit_code = POSTING_RULES[kind]
        lines = [(debit_code, amount, 0), (credit_code, 0, amount)]
    accounts = _accounts(
        merchant_id=merchant_id, livemode=livemode, currency=currency, codes={code for code, _, _ in lines}
    )
    entry = JournalEntry.objects.create(
        merchant_id=merchant_id,
        livemode=livemode,
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
    "livemode",
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
    livemode: bool,
    payment_id: str,
    operation_ref: str,
    amount: int,
    currency: str,
    description: str,
    occurred_at: datetime | None,
) -> JournalEntry | None:
    """A capture's entry and its two lines in one statement (PostgreSQL). None when nothing was
    inserted: the operation already has an entry (the unique constraint), or the payment has one
    under another merchant, in the other mode or in another currency. The balance trigger checks the lines at COMMIT
    as for any posting."""
    debit_code, credit_code = POSTING_RULES[EntryKind.CAPTURE]
    accounts = _accounts(merchant_id=merchant_id, livemode=livemode, currency=currency, codes={debit_code, credit_code})
    entry = JournalEntry(
        merchant_id=merchant_id,
        livemode=livemode,
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
        "AND (merchant_id <> %s OR currency <> %s OR livemode <> %s)) "
        "ON CONFLICT ON CONSTRAINT ledger_entry_unique_operation_mode DO NOTHING RETURNING id) "
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
        livemode,
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

    if kind == EntryKind.REFUND:
        # A refund is booked once the processor made it, so the books record it even over money
        # a dispute holds (payments refuses to ask for that: ``_refund_reserve``); only more than
        # was ever captured is impossible.
        captured, refunded = total(EntryKind.CAPTURE), total(EntryKind.REFUND)
        if refunded + amount > captured:
            raise LedgerPostingError(
                f"Refund {operation_ref} of {amount} {currency} exceeds what payment {payment_id} has left "
                f"in the ledger ({captured - refunded} {currency})."
            )
    elif kind == EntryKind.DISPUTE:
        # The processor decides a dispute (and withdraws even when the payment was refunded): the
        # books record it, unless it claims more than the payment ever captured.
        new = lines[0][1] if lines else amount
        captured = total(EntryKind.CAPTURE)
        if new > captured:
            raise LedgerPostingError(
                f"Dispute {operation_ref} of {new} {currency} exceeds what payment {payment_id} captured in the "
                f"ledger ({captured} {currency})."
            )
    elif kind == EntryKind.DISPUTE_REVERSAL:
        opened = [e for e in history if e.kind == EntryKind.DISPUTE and e.operation_ref == operation_ref]
        if not opened:
            raise LedgerPostingError(f"Dispute {operation_ref} of payment {payment_id} was never posted as opened.")
        reinstated = lines[1][2] if lines else amount
        fee_returned = amount - reinstated
        withdrawn = entry_account_movement(opened[0], AccountCode.DISPUTES)
        fees = dispute_fees_posted(history=history, dispute_id=operation_ref)
        if reinstated > withdrawn or fee_returned > fees:
            raise LedgerPostingError(
                f"Dispute {operation_ref} reinstates more than it withdrew ({withdrawn} {currency}, fees {fees})."
            )
    elif kind in (EntryKind.PAYOUT_PAID, EntryKind.PAYOUT_FAILED):
        created = [e for e in history if e.kind == EntryKind.PAYOUT]
        if not created or created[0].amount != amount:
            raise LedgerPostingError(f"Payout {operation_ref} settles {amount} {currency}, not what it paid out.")
        if any(e.kind == EntryKind.PAYOUT_FAILED for e in history):
            raise LedgerPostingError(f"Payout {operation_ref} already failed.")
        # paid -> failed is allowed (a reversing entry, see ledger_post_payout); paid twice is not.
        if kind == EntryKind.PAYOUT_PAID and any(e.kind == EntryKind.PAYOUT_PAID for e in history):
            raise LedgerPostingError(f"Payout {operation_ref} is already settled.")


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
