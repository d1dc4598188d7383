from celery import shared_task

from .services import customer_sessions_purge as _purge


@shared_task(name="customers.tasks.customer_sessions_purge")
def customer_sessions_purge() -> int:
    return _purge()
