"""GET /v1/me/orders and /v1/me/orders/{id}: a signed-in customer sees their own orders only."""

import pytest

from customers.models import Customer
from tests.customers.helpers import customer_client
from tests.orders.conftest import error_of
from tests.orders.factories import OrderFactory


@pytest.fixture
def me(merchant_keys):
    return customer_client(merchant_keys=merchant_keys, email="me@example.com")


@pytest.fixture
def my_customer(me) -> Customer:
    return Customer.objects.get(id=me.customer_id)


def test_customer_lists_only_their_own_orders(me, my_customer, merchant, other_merchant_keys):
    mine_old = OrderFactory(customer=my_customer, metadata={"internal": "x"})
    mine_new = OrderFactory(customer=my_customer, status="paid")
    OrderFactory(merchant=merchant)  # a neighbour's order, same merchant
    OrderFactory(merchant_id=other_merchant_keys.merchant_id)

    response = me.get("/v1/me/orders")

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["data"]] == [mine_new.id, mine_old.id]
    assert body["has_more"] is False
    assert "metadata" not in body["data"][0]  # the merchant's metadata stays private
    assert body["data"][1]["lines"][0]["sku"] == "SKU-1"


def test_customer_list_filters_by_status_and_pages(me, my_customer):
    orders = [OrderFactory(customer=my_customer) for _ in range(3)]
    paid = OrderFactory(customer=my_customer, status="paid")

    assert [o["id"] for o in me.get("/v1/me/orders", {"status": "paid"}).json()["data"]] == [paid.id]
    page = me.get("/v1/me/orders", {"status": "pending", "limit": 2}).json()
    assert [o["id"] for o in page["data"]] == [orders[2].id, orders[1].id]
    assert page["has_more"] is True


def test_customer_retrieves_their_order(me, my_customer):
    order = OrderFactory(customer=my_customer, metadata={"internal": "x"})

    response = me.get(f"/v1/me/orders/{order.id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["object"], body["total"], body["customer"]) == (order.id, "order", 3000, my_customer.id)
    assert "metadata" not in body


def test_another_customers_order_is_a_404(me, merchant):
    neighbour_order = OrderFactory(merchant=merchant)

    response = me.get(f"/v1/me/orders/{neighbour_order.id}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"


def test_another_merchants_order_is_a_404(me, other_merchant_keys):
    foreign = OrderFactory(merchant_id=other_merchant_keys.merchant_id)

    assert me.get(f"/v1/me/orders/{foreign.id}").status_code == 404


@pytest.mark.parametrize("path", ["/v1/me/orders", "/v1/me/orders/ord_x"])
def test_api_keys_cannot_use_the_customer_endpoints(secret_client, publishable_client, path):
    assert secret_client.get(path).status_code == 403
    assert publishable_client.get(path).status_code == 403


def test_customer_tokens_cannot_use_the_merchant_endpoints(me, my_customer):
    order = OrderFactory(customer=my_customer)

    assert me.get("/v1/orders").status_code == 403
    assert me.get(f"/v1/orders/{order.id}").status_code == 403
    assert me.post(f"/v1/orders/{order.id}/cancel").status_code == 403
    assert me.post("/v1/orders", {}, format="json").status_code == 403


def test_anonymous_is_a_401(api_client):
    assert api_client.get("/v1/me/orders").status_code == 401


def test_customer_list_stays_within_its_query_budget(me, my_customer, django_assert_max_num_queries):
    for _ in range(10):
        OrderFactory(customer=my_customer)
    me.get("/v1/me/orders")  # warm the session cache

    with django_assert_max_num_queries(2):  # orders page + its lines
        response = me.get("/v1/me/orders", {"limit": 10})

    assert len(response.json()["data"]) == 10
