"""Django admin for operators: lines inline, notification log, filters, search, actions through
the same services as the API."""

from events.models import Event
from orders.models import Notification, Order
from tests.customers.factories import CustomerFactory
from tests.orders.factories import NotificationFactory, OrderFactory

CHANGELIST = "/admin/orders/order/"


def _listed(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_changelist_filters_by_status(admin_client, merchant):
    pending = OrderFactory(merchant=merchant)
    paid = OrderFactory(merchant=merchant, status="paid")

    page = _listed(admin_client.get(CHANGELIST, {"status__exact": "paid"}))

    assert paid.id in page
    assert pending.id not in page


def test_changelist_filters_by_date(admin_client, merchant):
    order = OrderFactory(merchant=merchant)
    created = Order.objects.get(id=order.id).created

    today = {"created__year": created.year, "created__month": created.month, "created__day": created.day}
    assert order.id in _listed(admin_client.get(CHANGELIST, today))
    assert order.id not in _listed(admin_client.get(CHANGELIST, {"created__year": created.year - 1}))


def test_changelist_searches_by_id_and_customer_email(admin_client, merchant):
    grace = CustomerFactory(merchant=merchant, email="grace@navy.example")
    hers = OrderFactory(customer=grace)
    other = OrderFactory(merchant=merchant)

    by_email = _listed(admin_client.get(CHANGELIST, {"q": "grace@navy.example"}))
    by_id = _listed(admin_client.get(CHANGELIST, {"q": other.id}))

    assert hers.id in by_email and other.id not in by_email
    assert other.id in by_id and hers.id not in by_id


def test_change_page_shows_lines_and_notification_log(admin_client, merchant):
    order = OrderFactory(merchant=merchant, lines=[{"sku": "SKU-ALPHA", "unit_amount": 100}])
    NotificationFactory(order=order, status="failed", attempts=8, last_error="SMTPDataError: 451 busy")

    page = _listed(admin_client.get(f"{CHANGELIST}{order.id}/change/"))

    assert "SKU-ALPHA" in page
    assert "notification log" in page.lower()
    assert "SMTPDataError: 451 busy" in page


def test_cancel_action_uses_the_service(admin_client, merchant):
    pending = OrderFactory(merchant=merchant)
    paid = OrderFactory(merchant=merchant, status="paid")

    response = admin_client.post(
        CHANGELIST, {"action": "cancel_orders", "_selected_action": [pending.id, paid.id]}, follow=True
    )

    assert response.status_code == 200
    assert Order.objects.get(id=pending.id).status == "canceled"
    assert Order.objects.get(id=paid.id).status == "paid"
    page = response.content.decode()
    assert "Canceled 1 order(s)." in page
    assert "cannot be canceled" in page
    assert Event.objects.filter(type="order.canceled").count() == 1
    assert Notification.objects.filter(order=pending, kind="canceled").count() == 1


def test_fulfil_action_uses_the_service(admin_client, merchant):
    paid = OrderFactory(merchant=merchant, status="paid")

    admin_client.post(CHANGELIST, {"action": "fulfill_orders", "_selected_action": [paid.id]})

    assert Order.objects.get(id=paid.id).status == "fulfilled"
    assert Event.objects.filter(type="order.fulfilled").count() == 1


def test_orders_cannot_be_added_or_deleted_in_admin(admin_client, merchant):
    order = OrderFactory(merchant=merchant)

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{order.id}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.filter(id=order.id).exists()


def test_notification_admin_lists_and_retries(admin_client, merchant):
    notification = NotificationFactory(order=OrderFactory(merchant=merchant), status="failed", attempts=8)

    assert notification.id in _listed(admin_client.get("/admin/orders/notification/", {"status__exact": "failed"}))
    admin_client.post("/admin/orders/notification/", {"action": "retry", "_selected_action": [notification.id]})

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 0)
