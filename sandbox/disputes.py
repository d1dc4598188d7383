"""The sandbox's disputes: the disputed test card (``sandbox.cards.DISPUTED_CARD``, Stripe's
4000 0000 0000 0259) succeeds, and once captured a dispute opens on it (``needs_response``,
reason ``fraudulent``, the captured amount plus ``SANDBOX_DISPUTE_FEE``).

Delivery is a processor's: after ``SANDBOX_DISPUTE_DELAY_SECONDS`` the beat task
``sandbox.tasks.sandbox_disputes_deliver`` notifies the gateway (``processor_dispute_notify``,
the same path a verified webhook takes), which then reads the dispute (``dispute_info``).
``sandbox_dispute_close`` (``manage.py sandbox_dispute_close``) decides it won or lost and
notifies again.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from processors.base import DisputeInfo, DisputeLookupError
from processors.services import processor_dispute_notify

from .models import SandboxCharge, SandboxDispute

SANDBOX_ACCOUNT_ID = "sandbox"  # processors.selectors.SANDBOX_ACCOUNT_ID


def dispute_open_if_due(charge: SandboxCharge) -> SandboxDispute | None:
    """Open the dispute of a captured disputed-card charge (once; in the charge's transaction)."""
    if not charge.disputes_after_capture or charge.status != SandboxCharge.Status.SUCCEEDED:
        return None
    if not charge.amount_captured:
        return None
    now = timezone.now()
    dispute, _ = SandboxDispute.objects.get_or_create(
        charge=charge,
        defaults={
            "merchant_id": charge.merchant_id,
            "amount": charge.amount_captured,
            "currency": charge.currency,
            "fee": settings.SANDBOX_DISPUTE_FEE,
            "evidence_due_by": now + timedelta(days=7),
            "deliver_after": now + timedelta(seconds=settings.SANDBOX_DISPUTE_DELAY_SECONDS),
        },
    )
    return dispute


def dispute_info(*, merchant_id: str, dispute_id: str) -> DisputeInfo:
    dispute = SandboxDispute.objects.filter(merchant_id=merchant_id, id=dispute_id).select_related("charge").first()
    if dispute is None:
        raise DisputeLookupError(f"the sandbox has no dispute {dispute_id}")
    return DisputeInfo(
        processor_reference=dispute.id,
        status=dispute.status,
        raw_status=dispute.status,
        amount=dispute.amount,
        currency=dispute.currency,
        reason=dispute.reason,
        charge_references=(dispute.charge_id, dispute.charge.reference),
        evidence_due_by=int(dispute.evidence_due_by.timestamp()),
        fee=dispute.fee,
        fee_returned=0,  # like Stripe today: the dispute fee is not returned when the dispute is won
        created=int(dispute.created.timestamp()),
    )


def sandbox_disputes_deliver(*, now=None, limit: int = 100) -> int:
    """Notify the gateway of every dispute due and not yet delivered. Returns how many."""
    now = now or timezone.now()
    delivered = 0
    due = SandboxDispute.objects.filter(delivered_at__isnull=True, deliver_after__lte=now).order_by("id")[:limit]
    for dispute_id, merchant_id in due.values_list("id", "merchant_id"):
        with transaction.atomic():
            row = SandboxDispute.objects.select_for_update(skip_locked=True).filter(
                id=dispute_id, delivered_at__isnull=True
            )
            if not row.update(delivered_at=timezone.now()):
                continue
            processor_dispute_notify(
                merchant_id=merchant_id, processor_account_id=SANDBOX_ACCOUNT_ID, dispute_reference=dispute_id
            )
        delivered += 1
    return delivered


@transaction.atomic
def sandbox_dispute_close(*, dispute_id: str, won: bool) -> SandboxDispute:
    """Decide a sandbox dispute (tests, demos); the change is due for delivery at once."""
    dispute = SandboxDispute.objects.select_for_update().get(id=dispute_id)
    if dispute.status in (SandboxDispute.Status.WON, SandboxDispute.Status.LOST):
        return dispute
    dispute.status = SandboxDispute.Status.WON if won else SandboxDispute.Status.LOST
    dispute.delivered_at = None
    dispute.deliver_after = timezone.now()
    dispute.save()
    return dispute
