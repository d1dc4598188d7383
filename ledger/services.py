"""Posting to the books. Other apps call these; nothing else writes ledger rows.

Every posting runs inside the caller's transaction (the one that changes the payment or refund), so
the books and the business state commit or roll back together. Callers hold the payment's row lock
(lock order: order -> payment -> refund -> ledger); on PostgreSQL the ledger also takes a
transaction-scoped advisory lock per payment, so its own checks (no double posting, no refund above
what was captured) hold even for a caller that forgot its lock. No account row is ever locked or
updated: balances are sums of lines, so postings for one merchant never queue behind each other.
"""

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction

from gateway.errors import Conflict, InvalidRequest
from gateway.money import amount_validate, currency_validate
from merchants.selectors import merchant_get

from .models import ACCOUNT_TYPES, AccountCode, EntryKind, JournalEntry, JournalLine, LedgerAccount

# (account debited, account credited) per kind of entry.
POSTING_RULES: dict[str, tuple[str, str]] = {
    EntryKind.CAPTURE: (AccountCode.PROCESSOR_RECEIVABLE, AccountCode.MERCHANT_BALANCE),
    EntryKind.REFUND: (AccountCode.MERCHANT_BALANCE, AccountCode.PROCESSOR_RECEIVABLE),
}


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


def _post(
    *,
    kind: str,
    merchant_id: str,
    payment_id: str,
    operation_ref: str,
    operation_param: str,
    refund_id: str,
    amount: int,
    currency: str,
    description: str,
) -> JournalEntry:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger postings must run inside the transaction.atomic of the change they record")
    amount = amount_validate(amount, minimum=1)
    currency = currency_validate(currency)
    _reference_validate(merchant_id, "merchant_id", _max_length("payment_id"))
    _reference_validate(payment_id, "payment_id", _max_length("payment_id"))
    _reference_validate(operation_ref, operation_param, _max_length("refund_id" if refund_id else "operation_ref"))

    _lock_payment(payment_id)
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
        raise LedgerPostingError(f"Payment {payment_id} is booked in {history[0].currency}, not {currency}.")
    if kind == EntryKind.REFUND:
        captured = sum(e.amount for e in history if e.kind == EntryKind.CAPTURE)
        refunded = sum(e.amount for e in history if e.kind == EntryKind.REFUND)
        if refunded + amount > captured:
            raise LedgerPostingError(
                f"Refund {operation_ref} of {amount} {currency} exceeds what payment {payment_id} has left "
                f"in the ledger ({captured - refunded} {currency})."
            )

    debit_code, credit_code = POSTING_RULES[kind]
    accounts = _accounts(merchant_id=merchant_id, currency=currency)
    entry = JournalEntry.objects.create(
        merchant_id=merchant_id,
        kind=kind,
        currency=currency,
        amount=amount,
        payment_id=payment_id,
        refund_id=refund_id,
        operation_ref=operation_ref,
        description=description[:255],
    )
    JournalLine.objects.bulk_create(
        [
            JournalLine(merchant_id=entry.merchant_id, entry=entry, account_id=accounts[debit_code], debit=amount),
            JournalLine(merchant_id=entry.merchant_id, entry=entry, account_id=accounts[credit_code], credit=amount),
        ]
    )
    return entry


def _max_length(field: str) -> int:
    return JournalEntry._meta.get_field(field).max_length


def _reference_validate(value: object, name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {max_length} characters.", param=name)


def _lock_payment(payment_id: str) -> None:
    """Serialize postings for one payment until the transaction ends (PostgreSQL; SQLite has one writer)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"ledger:payment:{payment_id}"])


def _accounts_cache_key(merchant_id: str, currency: str) -> str:
    return f"ledger:accounts:v1:{merchant_id}:{currency}"


def _accounts(*, merchant_id: str, currency: str) -> dict[str, int]:
    """Ids of the merchant's accounts in ``currency`` by code, opened on first use.

    Accounts are append-only in the database (never updated or deleted), so once they exist their
    ids never change: they are cached (no expiry needed) after the transaction that read them
    commits. A cache miss or outage falls back to one query.
    """
    key = _accounts_cache_key(merchant_id, currency)
    cached = cache.get(key)
    if isinstance(cached, dict) and all(isinstance(cached.get(code), int) for code in ACCOUNT_TYPES):
        return cached
    accounts = _accounts_read(merchant_id=merchant_id, currency=currency)
    missing = [code for code in ACCOUNT_TYPES if code not in accounts]
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
