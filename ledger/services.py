"""Posting to the books. Other apps call these; nothing else writes ledger rows.

Every posting runs inside the caller's transaction (the one that changes the payment or refund), so
the books and the business state commit or roll back together. Callers hold the payment's row lock
(lock order: order -> payment -> refund -> ledger); on PostgreSQL the ledger also takes a
transaction-scoped advisory lock per payment, so its own checks (no double posting, no refund above
what was captured) hold even for a caller that forgot its lock. No account row is ever locked or
updated: balances are sums of lines, so postings for one merchant never queue behind each other.
"""

from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction

from gateway.errors import Conflict, InvalidRequest
from gateway.money import MAX_AMOUNT, amount_validate, currency_validate
from merchants.selectors import merchant_get

from .models import ACCOUNT_TYPES, PAYOUT_KINDS, AccountCode, EntryKind, JournalEntry, JournalLine, LedgerAccount
from .selectors import DISPUTE_FEE_SEPARATOR, dispute_fees_posted, entry_account_movement

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
    *,
    merchant_id: str,
    livemode: bool,
    payment_id: str,
    capture_ref: str,
    amount: int,
    currency: str,
    description: str = "",
) -> JournalEntry:
    """Record captured money: Dr processor_receivable, Cr merchant_balance.

    ``capture_ref`` names the capture operation (e.g. the payment attempt id, or the payment id for a
    payment captured once). Posting the same ``capture_ref`` again returns the existing entry; with a
    different amount or currency it raises ``LedgerPostingError``.
    """
    return _post(
        kind=EntryKind.CAPTURE,
        merchant_id=merchant_id,
        livemode=livemode,
        payment_id=payment_id,
        operation_ref=capture_ref,
        operation_param="capture_ref",
        refund_id="",
        amount=amount,
        currency=currency,
        description=description or f"Capture {capture_ref} of payment {payment_id}",
    )


def ledger_post_refund(
    *,
    merchant_id: str,
    livemode: bool,
    payment_id: str,
    refund_id: str,
    amount: int,
    currency: str,
    description: str = "",
) -> JournalEntry:
    """Record refunded money (post when the refund succeeds): Dr merchant_balance, Cr processor_receivable.

    Refused with ``LedgerPostingError`` when the payment's refunds would exceed its captures less
    what its disputes hold (withdrawn and not reinstated) in the ledger, or the currency differs
    from the captures'. Idempotent per ``refund_id`` like captures.
    """
    return _post(
        kind=EntryKind.REFUND,
        merchant_id=merchant_id,
        livemode=livemode,
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
    livemode: bool,
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
        livemode=livemode,
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
    livemode: bool,
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

    Posted once per ``dispute_id`` (a repeat with the same figures returns the entry). The
    processor decides disputes and withdraws even from a refunded payment, so the books record what
    it did: refused only when the disputed amount exceeds what the payment captured in the ledger.
    """
    return _post_dispute(
        kind=EntryKind.DISPUTE,
        merchant_id=merchant_id,
        livemode=livemode,
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
    livemode: bool,
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
    ``ledger_post_dispute``, never more than it posted (the fee: never more than the dispute's fees
    posted, with the withdrawal or later by ``ledger_post_dispute_fee``). Once per ``dispute_id``; a
    lost dispute posts nothing (the withdrawal stands)."""
    return _post_dispute(
        kind=EntryKind.DISPUTE_REVERSAL,
        merchant_id=merchant_id,
        livemode=livemode,
        payment_id=payment_id,
        dispute_id=dispute_id,
        amount=amount,
        currency=currency,
        fee=fee,
        occurred_at=occurred_at,
        description=description or f"Dispute {dispute_id} won on payment {payment_id}",
    )


def ledger_post_dispute_fee(
    *,
    merchant_id: str,
    livemode: bool,
    payment_id: str,
    dispute_id: str,
    fee: int,
    currency: str,
    occurred_at: datetime | None = None,
) -> JournalEntry | None:
    """A dispute's fee known only after its withdrawal was posted (Stripe may report the dispute
    before the fee): ``fee`` is the dispute's whole fee; what the books lack of it (the withdrawal's
    fee line and earlier fee entries of this dispute) posts as a ``fee`` entry keyed by the dispute
    and that total (``<dispute_id>:fee:<total>``), so a repeat posts nothing. None: nothing lacks."""
    fee = amount_validate(fee, minimum=0, param="fee")
    _reference_validate(dispute_id, "dispute_id", _max_length("operation_ref") - 24)
    posted = dispute_fees_posted(
        history=list(JournalEntry.objects.filter(payment_id=payment_id).prefetch_related("lines__account")),
        dispute_id=dispute_id,
    )
    if fee <= posted:
        return None
    return _post(
        kind=EntryKind.FEE,
        merchant_id=merchant_id,
        livemode=livemode,
        payment_id=payment_id,
        operation_ref=f"{dispute_id}{DISPUTE_FEE_SEPARATOR}{fee}",
        operation_param="dispute_id",
        amount=fee - posted,
        currency=currency,
        occurred_at=occurred_at,
        description=f"Dispute fee of dispute {dispute_id} on payment {payment_id}",
    )


def _post_dispute(
    *,
    kind: str,
    merchant_id: str,
    livemode: bool,
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
        livemode=livemode,
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
    livemode: bool,
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
    per payout; calling again as the payout progresses posts only what is new. A payout reported
    ``failed`` after it was posted ``paid`` (Stripe documents paid -> failed) posts ``payout_failed``
    as the reverse of the arrival (bank -> receivable). Returns the payout's entries."""
    if status not in PAYOUT_STATUSES:
        raise InvalidRequest(f"status must be one of {sorted(PAYOUT_STATUSES)}, not {status!r}.", param="status")
    common = {
        "merchant_id": merchant_id,
        "livemode": livemode,
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
        return sum(entry_account_movement(e, AccountCode.DISPUTES) for e in history if e.kind in kinds)

    if kind == EntryKind.REFUND:
        captured, refunded = total(EntryKind.CAPTURE), total(EntryKind.REFUND)
        # Money the processor withdrew for disputes (and has not reinstated) cannot be refunded too.
        held = disputed_amount((EntryKind.DISPUTE,)) - disputed_amount((EntryKind.DISPUTE_REVERSAL,))
        if refunded + amount > captured - held:
            raise LedgerPostingError(
                f"Refund {operation_ref} of {amount} {currency} exceeds what payment {payment_id} has left "
                f"in the ledger ({captured - refunded - held} {currency})"
                + (f"; {held} {currency} is held by disputes." if held else ".")
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


def _accounts_cache_key(merchant_id: str, livemode: bool, currency: str) -> str:
    return f"ledger:accounts:v2:{merchant_id}:{'live' if livemode else 'test'}:{currency}"


def _accounts(*, merchant_id: str, livemode: bool, currency: str, codes: set[str]) -> dict[str, int]:
    """Ids of the merchant's accounts in ``livemode`` and ``currency`` by code (at least ``codes``), each opened on
    its first use.

    Accounts are append-only in the database (never updated or deleted), so once they exist their
    ids never change: they are cached (no expiry needed) after the transaction that read them
    commits. A cache miss or outage falls back to one query.
    """
    key = _accounts_cache_key(merchant_id, livemode, currency)
    cached = cache.get(key)
    if isinstance(cached, dict) and all(isinstance(cached.get(code), int) for code in codes):
        return cached
    accounts = _accounts_read(merchant_id=merchant_id, livemode=livemode, currency=currency)
    missing = [code for code in ACCOUNT_TYPES if code in codes and code not in accounts]
    if missing:
        try:
            merchant_get(merchant_id=merchant_id)
        except ObjectDoesNotExist:
            raise LedgerPostingError(f"No such merchant: {merchant_id}.") from None
        # ignore_conflicts: a concurrent first posting may open the same accounts; both then read them.
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    merchant_id=merchant_id, livemode=livemode, code=code, type=ACCOUNT_TYPES[code], currency=currency
                )
                for code in missing
            ],
            ignore_conflicts=True,
        )
        accounts = _accounts_read(merchant_id=merchant_id, livemode=livemode, currency=currency)
    # Only after commit: accounts opened by a transaction that rolls back must never be cached.
    transaction.on_commit(lambda: cache.set(key, accounts, timeout=None), robust=True)
    return accounts


def _accounts_read(*, merchant_id: str, livemode: bool, currency: str) -> dict[str, int]:
    accounts = LedgerAccount.objects.filter(merchant_id=merchant_id, livemode=livemode, currency=currency)
    return dict(accounts.values_list("code", "id"))
