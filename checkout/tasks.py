"""Thin Celery tasks: find by id, call the service, let Celery retry."""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from . import selectors, services


@shared_task(name="checkout.tasks.checkout_sessions_sweep")
def checkout_sessions_sweep() -> int:
    """Periodic (BEAT_SCHEDULE_CHECKOUT): expire due sessions and follow pending payments."""
    session_ids = selectors.checkout_sessions_due(limit=settings.CHECKOUT_SWEEP_BATCH)
    for session_id in session_ids:
        checkout_session_sync_task.delay(session_id)
    return len(session_ids)


@shared_task(
    name="checkout.tasks.checkout_session_sync",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def checkout_session_sync_task(session_id: str) -> str:
    return services.checkout_session_sync(session_id=session_id).status
