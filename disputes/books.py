"""The disputes app's only two touch points with the ledger (``ledger.services``).

Opening a chargeback withdraws the disputed amount (to the ``disputes`` account) and the fee (to
``processor_fees``) from ``processor_receivable``; a won dispute reinstates the amount and any
returned fee. The ledger posts each at most once per dispute (same figures: the same entry; other
figures: refused), and ``funds_withdrawn_at``/``funds_reinstated_at`` keep the dispute's own record.
"""

import logging

from django.utils import timezone

from ledger.services import ledger_post_dispute, ledger_post_dispute_won

from .models import Dispute

logger = logging.getLogger("disputes")


def _ledger_withdraw(*, dispute: Dispute) -> bool:
    """The processor withdrew the disputed amount and its fee from what it owes the merchant. Once
    per dispute; runs in the dispute's transaction (payment locked, ledger last in the lock order)."""
    if dispute.funds_withdrawn_at is not None:
        return False
    ledger_post_dispute(
        merchant_id=dispute.merchant_id,
        payment_id=dispute.payment_id,
        dispute_id=dispute.id,
        currency=dispute.currency,
        amount=dispute.amount,
        fee=dispute.fee,
    )
    dispute.funds_withdrawn_at = timezone.now()
    return True


def _ledger_reinstate(*, dispute: Dispute) -> bool:
    """A won dispute: the processor gives the amount back (and the fee, where it does). Once."""
    if dispute.funds_withdrawn_at is None or dispute.funds_reinstated_at is not None:
        return False
    ledger_post_dispute_won(
        merchant_id=dispute.merchant_id,
        payment_id=dispute.payment_id,
        dispute_id=dispute.id,
        currency=dispute.currency,
        amount=dispute.amount,
        fee=dispute.fee_returned,
    )
    dispute.funds_reinstated_at = timezone.now()
    return True
