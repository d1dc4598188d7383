from celery import shared_task

from .idempotency import idempotency_keys_purge as _purge


@shared_task(name="gateway.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    return _purge()
