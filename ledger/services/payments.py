"""Postings of the payments app: a capture, a refund."""

from ..models import EntryKind, JournalEntry
from .posting import _post


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
