"""The disputes app's one row lock. Order: the payment's order, then the payment (payments.locks, through
``payments.services.payment_dispute_apply``) -> dispute -> ledger."""

from .models import Dispute


def dispute_lock(*, merchant_id: str, processor_account_id: str, processor_reference: str) -> Dispute | None:
    return (
        Dispute.objects.select_for_update(no_key=True, of=("self",))
        .filter(
            merchant_id=merchant_id,
            processor_account_id=processor_account_id,
            processor_reference=processor_reference,
        )
        .first()
    )
