"""Reads of disputes, always scoped to the caller's merchant and mode (another's is a 404)."""

from django.db.models import QuerySet

from gateway.errors import InvalidRequest, not_found

from .models import Dispute
from .state import DISPUTE_STATUSES


def dispute_get(*, merchant_id: str, dispute_id: str, livemode: bool = False) -> Dispute:
    dispute = Dispute.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=dispute_id).first()
    if dispute is None:
        raise not_found("dispute", dispute_id)
    return dispute


def dispute_list(
    *, merchant_id: str, livemode: bool = False, payment_id: str | None = None, status: str | None = None
) -> QuerySet[Dispute]:
    disputes = Dispute.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if payment_id:
        disputes = disputes.filter(payment_id=payment_id)
    if status is not None:
        if status not in DISPUTE_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(DISPUTE_STATUSES)}.", param="status")
        disputes = disputes.filter(status=status)
    return disputes


def payment_dispute_figures(*, payment_id: str) -> tuple[bool, int]:
    """(disputed, amount held back) of a payment from its disputes, for the payment's own fields.

    Held: what the processor withdrew and has not reinstated (a chargeback not won), whether or not
    the books could record it (a posting the books refused is flagged, the money is still gone)."""
    from .state import DISPUTED_STATUSES, FUNDS_WITHDRAWN_STATUSES, WON

    disputes = list(Dispute.objects.filter(payment_id=payment_id))
    disputed = any(d.status in DISPUTED_STATUSES for d in disputes)
    held = sum(d.amount for d in disputes if d.status in FUNDS_WITHDRAWN_STATUSES and d.status != WON)
    return disputed, held
