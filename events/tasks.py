"""Thin Celery tasks: fetch by id, call the service. Idempotency lives in the services (row lock +
status check), so broker redeliveries (acks_late) and sweep re-enqueues are harmless."""

from celery import shared_task
from django.db import DatabaseError

from . import services

_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 5}


@shared_task(name="events.tasks.event_deliveries_create", acks_late=True, **_RETRY)
def event_deliveries_create(event_id: str) -> int:
    return len(services.event_deliveries_create(event_id=event_id))


@shared_task(name="events.tasks.events_deliveries_create", acks_late=True, **_RETRY)
def events_deliveries_create(event_ids: list[str]) -> int:
    """The fan-out of all events one transaction wrote (one publish); each is idempotent on its own."""
    return sum(len(services.event_deliveries_create(event_id=event_id)) for event_id in event_ids)


@shared_task(name="events.tasks.delivery_attempt", acks_late=True, **_RETRY)
def delivery_attempt(delivery_id: str) -> str:
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="events.tasks.deliveries_sweep", acks_late=True)
def deliveries_sweep() -> dict[str, int]:
    return services.deliveries_sweep()
