"""Thin Celery tasks: fetch by id, call the service, let Celery retry."""

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    name="orders.tasks.notification_send",
    autoretry_for=(services.NotificationDeliveryFailed,),
    retry_backoff=settings.ORDER_NOTIFICATION_RETRY_BASE_SECONDS,
    retry_backoff_max=settings.ORDER_NOTIFICATION_RETRY_MAX_SECONDS,
    retry_jitter=True,
    # The row's attempt counter is the real bound (it also covers requeued tasks); this only
    # stops Celery from scheduling retries the service would refuse anyway.
    max_retries=max(settings.ORDER_NOTIFICATION_MAX_ATTEMPTS - 1, 0),
)
def notification_send(notification_id: str) -> str:
    return services.notification_deliver(notification_id=notification_id)


@shared_task(name="orders.tasks.notifications_requeue_stale")
def notifications_requeue_stale() -> int:
    return services.notifications_requeue_stale()
