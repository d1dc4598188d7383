"""Customer notifications in this process: rows written with the change, e-mail content,
idempotent sending, retry bookkeeping and the stale requeue, over a real SMTP server on loopback.
The real Celery worker is exercised in test_notifications_worker.py."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from orders import services, tasks
from orders.models import Notification
from tests.customers.factories import CustomerFactory
from tests.orders.factories import NotificationFactory, OrderFactory
from tests.waiting import WAIT_SECONDS


def _create_order(customer, **overrides):
    return services.order_create(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        currency="EUR",
        lines=[{"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_amount": 1250}],
        shipping_amount=overrides.pop("shipping_amount", 500),
        **overrides,
    )


def test_order_created_sends_one_email_after_commit(customer, django_capture_on_commit_callbacks):
    # given the locmem backend of the test settings and eager tasks
    with django_capture_on_commit_callbacks(execute=True):
        order = _create_order(customer)
        # nothing is sent before the commit
        assert mail.outbox == []

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == f"We received your order {order.id} - Acme"
    assert "Hello Ada Lovelace," in message.body
    assert "2 x Green tea (TEA-1) at 12.50 EUR: 25.00 EUR" in message.body
    assert "Total:    30.00 EUR" in message.body
    assert message.extra_headers["Message-ID"].startswith(f"<{Notification.objects.get().id}@")
    notification = Notification.objects.get(order=order)
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert notification.sent_at is not None


@pytest.mark.parametrize(
    ("kind", "subject_start", "body_part"),
    [
        ("paid", "Payment received for order", "Paid:     30.00 EUR"),
        ("canceled", "Your order", "was canceled"),
        ("fulfilled", "Your order", "on its way"),
        ("partially_refunded", "Partial refund for order", "Refunded: 10.00 EUR"),
        ("refunded", "Your order", "refunded in full"),
    ],
)
def test_every_kind_renders(customer, kind, subject_start, body_part):
    notification = NotificationFactory(order=_create_order(customer), kind=kind)
    notification.data["order"].update(amount_paid=3000, amount_refunded=1000)

    message = services.notification_message(notification=notification)

    assert message.subject.startswith(subject_start)
    assert body_part in message.body
    assert "{%" not in message.body and "{{" not in message.body


def test_customer_without_email_gets_a_skipped_notification(merchant, django_capture_on_commit_callbacks):
    customer = CustomerFactory(merchant=merchant, email=None)

    with django_capture_on_commit_callbacks(execute=True):
        order = _create_order(customer)

    assert mail.outbox == []
    assert Notification.objects.get(order=order).status == "skipped"


def test_delivering_twice_sends_once(customer):
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    first = services.notification_deliver(notification_id=notification.id)
    second = services.notification_deliver(notification_id=notification.id)

    assert (first, second) == ("sent", "sent")
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)


def test_unknown_notification_is_ignored(db):
    assert services.notification_deliver(notification_id="ntf_missing") == "missing"


def test_smtp_refusal_is_recorded_and_raised_for_a_retry(customer, smtp_server):
    smtp_server.handler.fail_first = 1
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    with pytest.raises(services.NotificationDeliveryFailed):
        services.notification_deliver(notification_id=notification.id)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert "451" in notification.last_error
    assert smtp_server.handler.messages_to(customer.email) == []

    # when the retry comes, the server accepts
    assert services.notification_deliver(notification_id=notification.id) == "sent"
    assert len(smtp_server.handler.messages_to(customer.email)) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)


def test_attempts_are_bounded(customer, smtp_server, settings):
    settings.ORDER_NOTIFICATION_MAX_ATTEMPTS = 3
    smtp_server.handler.fail_first = 100
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    for _ in range(2):
        with pytest.raises(services.NotificationDeliveryFailed):
            services.notification_deliver(notification_id=notification.id)
    assert services.notification_deliver(notification_id=notification.id) == "failed"
    assert services.notification_deliver(notification_id=notification.id) == "failed"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert smtp_server.handler.data_commands == 3


def test_permanent_refusal_fails_at_once(customer, smtp_server):
    smtp_server.handler.fail_first = 100
    smtp_server.handler.data_code = "554 5.7.1 Message rejected"
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    assert services.notification_deliver(notification_id=notification.id) == "failed"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 1)
    assert "554" in notification.last_error


def test_unreachable_smtp_server_is_retried(customer, settings):
    from tests.conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    with pytest.raises(services.NotificationDeliveryFailed):
        services.notification_deliver(notification_id=notification.id)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in notification.last_error


def test_eager_task_retries_until_accepted(customer, smtp_server):
    """Celery's autoretry (eager here: no waiting) around the service, over real SMTP."""
    smtp_server.handler.fail_first = 2
    notification = NotificationFactory(order=OrderFactory(customer=customer))

    tasks.notification_send.apply(args=[notification.id])

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 3)
    assert len(smtp_server.handler.messages_to(customer.email)) == 1


def test_task_is_configured_for_backoff_with_jitter():
    task = tasks.notification_send
    assert task.autoretry_for == (services.NotificationDeliveryFailed,)
    assert task.retry_backoff and task.retry_jitter is True
    assert task.max_retries >= 1


def test_operator_retry_of_a_failed_notification(customer, django_capture_on_commit_callbacks):
    notification = NotificationFactory(order=OrderFactory(customer=customer), status="failed", attempts=8)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.notification_retry(notification_id=notification.id) is True

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert len(mail.outbox) == 1
    assert services.notification_retry(notification_id=notification.id) is False


# --- stale requeue ---------------------------------------------------------------------------


def test_requeue_picks_only_stale_pending_notifications(customer):
    order = OrderFactory(customer=customer)
    stale = NotificationFactory(order=order)
    fresh = NotificationFactory(order=order)
    sent = NotificationFactory(order=order, status="sent")
    Notification.objects.filter(id__in=[stale.id, sent.id]).update(updated=timezone.now() - timedelta(hours=2))

    count = tasks.notifications_requeue_stale.apply().get()

    assert count == 1
    assert len(mail.outbox) == 1  # eager: the requeued task ran
    assert mail.outbox[0].extra_headers["Message-ID"].startswith(f"<{stale.id}@")
    assert Notification.objects.get(id=stale.id).status == "sent"
    assert Notification.objects.get(id=fresh.id).status == "pending"


def test_requeue_is_on_the_beat_schedule(settings):
    entries = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "orders.tasks.notifications_requeue_stale"
    ]
    assert len(entries) == 1
    assert settings.ORDER_NOTIFICATION_STALE_SECONDS > settings.ORDER_NOTIFICATION_RETRY_MAX_SECONDS


def test_broker_outage_does_not_fail_the_order(customer, django_capture_on_commit_callbacks, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.notification_send, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        order = _create_order(customer)

    # the order stands; its notification waits for the periodic requeue
    assert Notification.objects.get(order=order).status == "pending"


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_once(customer, smtp_server):
    """A redelivered task running while the first still talks to the SMTP server skips the row."""
    smtp_server.handler.hold = True  # the first delivery's DATA waits until released
    notification = NotificationFactory(order=OrderFactory(customer=customer))
    outcomes: dict[str, str] = {}

    def deliver(name: str):
        try:
            outcomes[name] = services.notification_deliver(notification_id=notification.id)
        finally:
            connection.close()

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    assert smtp_server.handler.held.wait(WAIT_SECONDS), "the first delivery never reached DATA"
    # the first delivery holds the row while the SMTP server has its message: a duplicate runs now
    second = threading.Thread(target=deliver, args=("second",))
    second.start()
    second.join(WAIT_SECONDS)
    assert outcomes == {"second": "locked"}
    smtp_server.handler.release()
    first.join(WAIT_SECONDS)

    assert outcomes == {"second": "locked", "first": "sent"}
    assert len(smtp_server.handler.messages_to(customer.email)) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)


@pytest.mark.django_db(transaction=True)
def test_notification_row_commits_with_the_order_or_not_at_all(customer):
    with pytest.raises(RuntimeError), transaction.atomic():
        order = _create_order(customer)
        raise RuntimeError("boom")

    assert not Notification.objects.filter(order_id=order.id).exists()
    assert mail.outbox == []
