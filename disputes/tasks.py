"""Thin Celery tasks of the disputes app."""

from celery import shared_task
from django.db import DatabaseError

from processors.base import DisputeLookupError

from . import services


@shared_task(
    name="disputes.tasks.dispute_sync",
    autoretry_for=(DatabaseError, DisputeLookupError),
    retry_backoff=True,
    retry_backoff_max=3600,
    max_retries=12,
)
def dispute_sync(merchant_id: str, processor_account_id: str, dispute_reference: str) -> str | None:
    """Enqueued (on commit) by a processor's dispute notification: read the dispute, apply it."""
    dispute = services.dispute_sync(
        merchant_id=merchant_id, processor_account_id=processor_account_id, dispute_reference=dispute_reference
    )
    return dispute.status if dispute is not None else None
