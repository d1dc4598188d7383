"""The disputes app's only two touch points with the ledger.

TODO(merge): the reconciliation branch adds ``ledger.services.ledger_post_dispute`` and
``ledger_post_dispute_won`` (keyword args merchant_id, livemode, payment_id, dispute_id, currency,
amount, fee). Until they are merged the postings are recorded on the dispute only
(``funds_withdrawn_at``/``funds_reinstated_at``, which also keep each posting to once); the lead
switches the fallback off at merge.
"""

import logging

from django.utils import timezone

from .models import Dispute

try:  # TODO(merge): switch to a plain import of ledger_post_dispute / ledger_post_dispute_won
    from ledger.services import ledger_post_dispute, ledger_post_dispute_won  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the ledger of this branch has no dispute postings yet
    ledger_post_dispute = ledger_post_dispute_won = None

logger = logging.getLogger("disputes")


def _ledger_withdraw(*, dispute: Dispute) -> bool:
    """The processor withdrew the disputed amount and its fee: Dr merchant balance, Cr processor
    receivable (and the fee). Once per dispute; runs in the dispute's transaction (payment locked)."""
    if dispute.funds_withdrawn_at is not None:
        return False
    if ledger_post_dispute is not None:
        ledger_post_dispute(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            currency=dispute.currency,
            amount=dispute.amount,
            fee=dispute.fee,
        )
    else:
        logger.warning("ledger has no dispute postings yet", extra={"dispute": dispute.id})
    dispute.funds_withdrawn_at = timezone.now()
    return True


def _ledger_reinstate(*, dispute: Dispute) -> bool:
    """A won dispute: the processor gives the amount back (and the fee, where it does). Once."""
    if dispute.funds_withdrawn_at is None or dispute.funds_reinstated_at is not None:
        return False
    if ledger_post_dispute_won is not None:
        ledger_post_dispute_won(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            currency=dispute.currency,
            amount=dispute.amount,
            fee=dispute.fee_returned,
        )
    else:
        logger.warning("ledger has no dispute postings yet", extra={"dispute": dispute.id})
    dispute.funds_reinstated_at = timezone.now()
    return True
