"""Thin Celery tasks: call the service."""

from celery import shared_task

from . import services


@shared_task(name="customers.tasks.customer_sessions_purge")
def customer_sessions_purge() -> int:
    return services.customer_sessions_purge()
