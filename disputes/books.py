"""The disputes app's touch points with the ledger (``ledger.services``).

Opening a chargeback withdraws the disputed amount (to the ``disputes`` account) and the fee (to
``processor_fees``) from ``processor_receivable``; a fee the processor reports only later posts as
its own ``fee`` entry keyed by the dispute; a won dispute reinstates the amount and any returned fee
(never more fee than the books hold for the dispute). The ledger posts each at most once per
dispute (same figures: the same entry; other figures: refused), and
``funds_withdrawn_at``/``funds_reinstated_at`` keep the dispute's own record.

The processor decides disputes: the books record what it did. A posting the books still refuse
(e.g. a dispute larger than the payment ever captured) never throws the dispute away: each posting
runs in a savepoint, a refusal is logged and flags the dispute (``books_flagged_at``,
``books_problem``) for an operator, and the dispute, its event and the payment's figures commit.
A later sync tries the posting again (the ``*_at`` marker stays empty until it succeeds).
"""

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from gateway.errors import InvalidRequest
from ledger.selectors import dispute_fee_in_books
from ledger.services import (
    LedgerPostingError,
    ledger_post_dispute,
    ledger_post_dispute_fee,
    ledger_post_dispute_won,
)

from .models import Dispute

logger = logging.getLogger("disputes")


def _books_post(*, dispute: Dispute, posting: Callable[[], object]) -> bool:
    """Run one ledger posting in a savepoint; a refusal flags the dispute instead of failing it."""
    try:
        with transaction.atomic():
            posting()
    except (LedgerPostingError, InvalidRequest) as error:
        logger.error(
            "the books refused a dispute posting; dispute recorded and flagged",
            extra={"dispute": dispute.id, "payment": dispute.payment_id, "problem": str(error)},
        )
        dispute.books_flagged_at = dispute.books_flagged_at or timezone.now()
        dispute.books_problem = str(error)[:500]
        return False
    return True


def _ledger_withdraw(*, dispute: Dispute) -> bool:
    """The processor withdrew the disputed amount and its fee from what it owes the merchant. Once
    per dispute; runs in the dispute's transaction (payment locked, ledger last in the lock order)."""
    if dispute.funds_withdrawn_at is not None:
        return False
    posted = _books_post(
        dispute=dispute,
        posting=lambda: ledger_post_dispute(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            currency=dispute.currency,
            amount=dispute.amount,
            fee=dispute.fee,
        ),
    )
    if posted:
        dispute.funds_withdrawn_at = timezone.now()
    return posted


def _ledger_fee_catch_up(*, dispute: Dispute) -> bool:
    """A dispute fee the processor reported after the withdrawal was posted (often 0 at first):
    what the books lack of ``dispute.fee`` posts as a ``fee`` entry keyed by the dispute."""
    if dispute.funds_withdrawn_at is None or not dispute.fee:
        return False
    return _books_post(
        dispute=dispute,
        posting=lambda: ledger_post_dispute_fee(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            fee=dispute.fee,
            currency=dispute.currency,
        ),
    )


def _ledger_reinstate(*, dispute: Dispute) -> bool:
    """A won dispute: the processor gives the amount back (and the fee, where it does: never more
    than the fee the books hold for this dispute). Once."""
    if dispute.funds_withdrawn_at is None or dispute.funds_reinstated_at is not None:
        return False
    fee_returned = min(dispute.fee_returned, dispute_fee_in_books(payment_id=dispute.payment_id, dispute_id=dispute.id))
    posted = _books_post(
        dispute=dispute,
        posting=lambda: ledger_post_dispute_won(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            currency=dispute.currency,
            amount=dispute.amount,
            fee=fee_returned,
        ),
    )
    if posted:
        dispute.funds_reinstated_at = timezone.now()
    return posted
