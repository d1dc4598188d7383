"""Postings of disputes: the withdrawal, its later fee, the reinstatement of a won dispute."""

from datetime import datetime

from gateway.money import amount_validate

from ..models import AccountCode, EntryKind, JournalEntry
from ..selectors import DISPUTE_FEE_SEPARATOR, dispute_fees_posted
from .posting import _max_length, _post, _reference_validate


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
