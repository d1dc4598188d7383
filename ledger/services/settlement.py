"""Postings from the processors' settlement data: fees and payouts."""

from datetime import datetime

from gateway.errors import InvalidRequest
from gateway.money import MAX_AMOUNT, amount_validate

from ..models import EntryKind, JournalEntry
from .posting import PAYOUT_STATUSES, _post


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
