"""Test and live mode are separate worlds: an order made with a test key is a 404 to a live key of
the same merchant (and the reverse), and an order only takes a customer of its own mode."""

import pytest
from django.db import transaction

from customers.models import Customer
from events.models import Event
from gateway.errors import NotFound
from orders import selectors, services
from orders.models import Notification, Order
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client, live_client
from tests.orders.conftest import error_of
from tests.orders.factories import OrderFactory


@pytest.fixture
def live_secret(merchant_keys):
    return live_client(merchant_id=merchant_keys.merchant_id)


@pytest.fixture
def live_customer(merchant):
    return CustomerFactory(merchant=merchant, email="ada@example.com", name="Ada (live)", livemode=True)


def test_order_created_with_test_key_is_404_to_live_key(secret_client, live_secret, create_order):
    # given an order created with the test key and cached by its read
    created = create_order()
    assert created["livemode"] is False
    assert secret_client.get(f"/v1/orders/{created['id']}").status_code == 200

    # when a live key of the same merchant reads, cancels, fulfils and lists it
    responses = [
        live_secret.get(f"/v1/orders/{created['id']}"),
        live_secret.post(f"/v1/orders/{created['id']}/cancel"),
        live_secret.post(f"/v1/orders/{created['id']}/fulfill"),
    ]
    listed = live_secret.get("/v1/orders").json()["data"]
    by_customer = live_secret.get("/v1/orders", {"customer": created["customer"]}).json()["data"]

    # then it is a 404 every time, the lists are empty and the order is unchanged
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert {error_of(r)["code"] for r in responses} == {"resource_missing"}
    assert listed == by_customer == []
    order = Order.objects.get(id=created["id"])
    assert (order.status, order.livemode, order.canceled_at) == ("pending", False, None)
    assert list(Event.objects.filter(type__startswith="order.").values_list("type", flat=True)) == ["order.created"]


def test_order_created_with_live_key_is_live_and_404_to_test_key(secret_client, live_secret, live_customer):
    # given a live customer; when the live key creates an order for them
    response = live_secret.post(
        "/v1/orders",
        {
            "customer": live_customer.id,
            "currency": "usd",
            "lines": [{"sku": "A", "name": "A", "quantity": 1, "unit_amount": 500}],
        },
        format="json",
    )

    # then the order, its event are live, and the live key reads it back (now cached)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["livemode"] is True
    assert live_secret.get(f"/v1/orders/{body['id']}").json()["id"] == body["id"]
    assert Order.objects.get(id=body["id"]).livemode is True
    assert Event.objects.get(type="order.created").livemode is True
    # and the test key does not see it, cached or not
    assert secret_client.get(f"/v1/orders/{body['id']}").status_code == 404
    assert secret_client.post(f"/v1/orders/{body['id']}/cancel").status_code == 404
    assert secret_client.get("/v1/orders").json()["data"] == []
    assert Order.objects.get(id=body["id"]).status == "pending"


def test_order_for_test_customer_with_live_key_is_404_param_customer(live_secret, order_payload, customer):
    # given a test-mode customer (the order_payload's); when a live key orders for them
    response = live_secret.post("/v1/orders", order_payload, format="json")

    # then the customer does not exist in live mode, and nothing was written
    assert response.status_code == 404
    error = error_of(response)
    assert (error["code"], error["param"]) == ("resource_missing", "customer")
    assert not Order.objects.exists()
    assert not Notification.objects.exists()
    assert not Event.objects.filter(type__startswith="order.").exists()


def test_order_for_live_customer_with_test_key_is_404_param_customer(secret_client, order_payload, live_customer):
    response = secret_client.post("/v1/orders", {**order_payload, "customer": live_customer.id}, format="json")

    assert response.status_code == 404
    assert error_of(response)["param"] == "customer"
    assert not Order.objects.exists()


def test_lists_show_only_the_keys_mode(secret_client, live_secret, customer, live_customer):
    test_orders = [OrderFactory(customer=customer), OrderFactory(customer=customer, status="paid")]
    live_orders = [OrderFactory(customer=live_customer), OrderFactory(customer=live_customer, status="paid")]

    test_ids = [o["id"] for o in secret_client.get("/v1/orders").json()["data"]]
    live_ids = [o["id"] for o in live_secret.get("/v1/orders").json()["data"]]
    live_paid = [o["id"] for o in live_secret.get("/v1/orders", {"status": "paid"}).json()["data"]]

    assert test_ids == [o.id for o in reversed(test_orders)]
    assert live_ids == [o.id for o in reversed(live_orders)]
    assert live_paid == [live_orders[1].id]
    assert Order.objects.filter(livemode=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_order_lock_and_get_refuse_the_other_mode(customer):
    order = OrderFactory(customer=customer)

    with pytest.raises(NotFound):
        selectors.order_get(merchant_id=order.merchant_id, order_id=order.id, livemode=True)
    with pytest.raises(NotFound), transaction.atomic():
        services.order_lock(merchant_id=order.merchant_id, order_id=order.id, livemode=True)
    with pytest.raises(NotFound):
        services.order_cancel(merchant_id=order.merchant_id, order_id=order.id, livemode=True)

    with transaction.atomic():
        locked = services.order_lock(merchant_id=order.merchant_id, order_id=order.id)
    assert (locked.id, locked.livemode) == (order.id, False)
    assert Order.objects.get(id=order.id).status == "pending"


# --- /v1/me/orders ------------------------------------------------------------------------------


def test_me_orders_with_live_customer_token_does_not_show_test_orders(merchant_keys, merchant):
    # given the same person as a test customer with test orders and a live customer with a live order
    test_customer = CustomerFactory(merchant=merchant, email="grace@example.com")
    test_order = OrderFactory(customer=test_customer)
    live_me = customer_client(merchant_keys=merchant_keys, email="grace@example.com", livemode=True)
    live_customer = Customer.objects.get(id=live_me.customer_id)
    live_order = OrderFactory(customer=live_customer)
    # and a row of the live customer written in test mode (as before modes were enforced)
    stray = OrderFactory(customer=live_customer, livemode=False)

    # when the live customer lists and reads their orders
    listed = live_me.get("/v1/me/orders").json()["data"]

    # then only the live order is there; the others are 404
    assert [o["id"] for o in listed] == [live_order.id]
    assert live_me.get(f"/v1/me/orders/{live_order.id}").status_code == 200
    assert live_me.get(f"/v1/me/orders/{test_order.id}").status_code == 404
    assert live_me.get(f"/v1/me/orders/{stray.id}").status_code == 404
    assert Order.objects.filter(customer=live_customer).count() == 2


def test_me_orders_with_test_customer_token_does_not_show_live_orders(merchant_keys):
    test_me = customer_client(merchant_keys=merchant_keys)
    my_customer = Customer.objects.get(id=test_me.customer_id)
    mine = OrderFactory(customer=my_customer)
    stray = OrderFactory(customer=my_customer, livemode=True)

    assert [o["id"] for o in test_me.get("/v1/me/orders").json()["data"]] == [mine.id]
    assert test_me.get(f"/v1/me/orders/{stray.id}").status_code == 404
