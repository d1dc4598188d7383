"""Notifications end to end: a real Celery worker process, the real broker (Redis) and a real SMTP
server on loopback that refuses the first deliveries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services, tasks
from orders.models import Notification
from tests.orders.conftest import wait_until
from tests.orders.factories import NotificationFactory, OrderFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _status(notification_id: str) -> str:
    return Notification.objects.values_list("status", flat=True).get(id=notification_id)


def test_email_survives_smtp_refusals_and_arrives_exactly_once(customer, smtp_server, notification_worker):
    # given an SMTP server that answers 451 to the first two deliveries
    smtp_server.handler.fail_first = 2

    # when an order is created (commit -> on_commit -> task on the broker -> worker)
    order = services.order_create(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        currency="USD",
        lines=[{"sku": "TEA-1", "name": "Green tea", "quantity": 1, "unit_amount": 1250}],
    )
    notification = Notification.objects.get(order=order)
    wait_until(lambda: _status(notification.id) == "sent")

    # then the worker retried with back-off and the message arrived once, also once it has
    # nothing left to do (no retry still scheduled that could send a duplicate)
    notification_worker.wait_idle()
    received = smtp_server.handler.messages_to(customer.email)
    assert len(received) == 1
    assert received[0].message["Message-ID"].startswith(f"<{notification.id}@")
    assert received[0].message["Subject"].startswith(f"We received your order {order.id}")
    assert smtp_server.handler.data_commands == 3
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 3)
    assert "451" in notification.last_error

    # and a redelivered task (at-least-once broker) sends nothing more
    result = tasks.notification_send.delay(notification.id)
    done = f"[{result.id}] succeeded".encode()
    wait_until(lambda: done in notification_worker.log_path.read_bytes())
    notification_worker.wait_idle()
    assert len(smtp_server.handler.messages_to(customer.email)) == 1
    assert smtp_server.handler.data_commands == 3


def test_stranded_notification_is_sent_by_the_periodic_requeue(customer, smtp_server, notification_worker):
    # given a notification committed without a task (the process died before the enqueue)
    order = OrderFactory(customer=customer)
    stranded = NotificationFactory(order=order)
    Notification.objects.filter(id=stranded.id).update(updated=timezone.now() - timedelta(hours=1))
    smtp_server.handler.fail_first = 1

    # when the periodic task runs in the worker
    tasks.notifications_requeue_stale.delay()

    # then it is delivered, once
    wait_until(lambda: _status(stranded.id) == "sent")
    notification_worker.wait_idle()  # the requeue and every send it caused have finished
    received = smtp_server.handler.messages_to(customer.email)
    assert len(received) == 1
    assert received[0].message["Message-ID"].startswith(f"<{stranded.id}@")
    assert Notification.objects.get(id=stranded.id).attempts == 2
