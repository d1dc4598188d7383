"""Thin Celery tasks: find by id, call the service, let Celery retry."""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from . import selectors, services


@shared_task(name="payments.tasks.payments_sync_due")
def payments_sync_due() -> int:
    """Periodic (BEAT_SCHEDULE_PAYMENTS): enqueue a status sync for every payment whose unresolved
    operation is due for its next query, at most one queued per payment (``sync_enqueued_at``).
    Returns how many were enqueued."""
    due = selectors.payments_due_for_sync(limit=settings.PAYMENTS_SYNC_BATCH)
    payment_ids = services.payments_sync_enqueue_claim(payment_ids=due)
    for payment_id in payment_ids:
        payment_sync.delay(payment_id)
    due = selectors.payments_requires_action_due(limit=settings.PAYMENTS_SYNC_BATCH)
    waiting = services.payments_sync_enqueue_claim(payment_ids=[p for p in due if p not in set(payment_ids)])
    for payment_id in waiting:
        payment_requires_action_poll.delay(payment_id)
    return len(payment_ids) + len(waiting)


@shared_task(
    name="payments.tasks.payment_sync",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def payment_sync(payment_id: str) -> str:
    return services.payment_sync(payment_id=payment_id).status


@shared_task(
    name="payments.tasks.payment_resolve",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def payment_resolve(payment_id: str) -> str:
    """Enqueued (on commit) by a processor webhook about this payment."""
    return services.payment_resolve(payment_id=payment_id).status


@shared_task(
    name="payments.tasks.payment_requires_action_poll",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def payment_requires_action_poll(payment_id: str) -> str:
    return services.payment_requires_action_poll(payment_id=payment_id).status


@shared_task(name="payments.tasks.payment_methods_expired_purge")
def payment_methods_expired_purge() -> int:
    """Periodic: erase the ciphertext of browser-tokenized cards that expired unused."""
    from .services import payment_methods_expired_purge as purge

    return purge()
