"""POST /v1/orders: server-computed totals, bounds, validation, tenancy, idempotency."""

import pytest

from events.models import Event
from gateway.money import MAX_AMOUNT
from orders.models import Notification, Order, OrderLine
from tests.customers.factories import CustomerFactory
from tests.orders.conftest import error_of


def test_create_computes_totals_and_writes_order_lines_event_and_notification(secret_client, order_payload, customer):
    # given a valid payload; when it is posted
    response = secret_client.post("/v1/orders", order_payload, format="json")

    # then the order comes back with server-computed amounts
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["object"] == "order"
    assert body["id"].startswith("ord_")
    assert body["status"] == "pending"
    assert body["currency"] == "USD"
    assert body["customer"] == customer.id
    assert body["subtotal"] == 2 * 1250 + 900
    assert body["total"] == 3400 + 500 + 340
    assert (body["amount_paid"], body["amount_refunded"], body["amount_outstanding"]) == (0, 0, 4240)
    assert [(line["sku"], line["amount"]) for line in body["lines"]] == [("TEA-1", 2500), ("MUG-1", 900)]
    assert body["lines"][0]["object"] == "order_line"
    assert body["metadata"] == {"cart": "c_42"}
    assert body["status_transitions"] == {"paid_at": None, "fulfilled_at": None, "canceled_at": None}
    assert isinstance(body["created"], int)

    # and the database holds exactly that, plus its event and its notification
    order = Order.objects.get(id=body["id"])
    assert (order.subtotal, order.shipping_amount, order.tax_amount, order.total) == (3400, 500, 340, 4240)
    assert list(OrderLine.objects.filter(order=order).values_list("position", "quantity", "amount")) == [
        (0, 2, 2500),
        (1, 1, 900),
    ]
    event = Event.objects.get(type="order.created")
    assert event.merchant_id == order.merchant_id
    assert event.data["object"]["id"] == order.id
    assert event.data["object"]["total"] == 4240
    notification = Notification.objects.get(order=order)
    assert (notification.kind, notification.status, notification.recipient) == ("created", "pending", customer.email)
    assert notification.data["order"]["total"] == 4240
    assert "metadata" not in notification.data["order"]


@pytest.mark.parametrize("field", ["subtotal", "total", "amount_paid", "amount_refunded", "status"])
def test_client_computed_fields_are_refused(secret_client, order_payload, field):
    response = secret_client.post("/v1/orders", {**order_payload, field: 1}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("parameter_not_allowed", field)
    assert Order.objects.count() == 0


def test_client_line_amount_is_refused(secret_client, order_payload):
    lines = [dict(order_payload["lines"][0]), {**order_payload["lines"][1], "amount": 5}]
    response = secret_client.post("/v1/orders", {**order_payload, "lines": lines}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == "lines[1].amount"
    assert Order.objects.count() == 0


def test_unknown_parameter_is_refused(secret_client, order_payload):
    response = secret_client.post("/v1/orders", {**order_payload, "discount": 100}, format="json")

    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("parameter_unknown", "discount")


def _line(**overrides) -> dict:
    return {"sku": "X", "name": "Thing", "quantity": 1, "unit_amount": 100, **overrides}


@pytest.mark.parametrize(
    ("lines", "param"),
    [
        ([], "lines"),
        ([_line()] * 101, "lines"),
        ([_line(quantity=0)], "lines[0].quantity"),
        ([_line(), _line(quantity=-1)], "lines[1].quantity"),
        ([_line(quantity=1.5)], "lines[0].quantity"),
        ([_line(unit_amount=-1)], "lines[0].unit_amount"),
        ([_line(unit_amount=10.5)], "lines[0].unit_amount"),
        ([_line(unit_amount="100")], "lines[0].unit_amount"),
        ([_line(unit_amount=True)], "lines[0].unit_amount"),
        ([_line(sku="")], "lines[0].sku"),
        ([{"sku": "X", "quantity": 1, "unit_amount": 1}], "lines[0].name"),
        ("not-a-list", "lines"),
    ],
)
def test_invalid_lines_are_a_400_naming_the_param(secret_client, order_payload, lines, param):
    response = secret_client.post("/v1/orders", {**order_payload, "lines": lines}, format="json")

    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    assert Order.objects.count() == 0


def test_one_hundred_lines_are_accepted(secret_client, order_payload):
    response = secret_client.post("/v1/orders", {**order_payload, "lines": [_line()] * 100}, format="json")

    assert response.status_code == 201
    assert response.json()["subtotal"] == 100 * 100
    assert OrderLine.objects.count() == 100


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"lines": [_line(unit_amount=MAX_AMOUNT + 1)]}, "lines[0].unit_amount"),
        ({"lines": [_line(unit_amount=10**40)]}, "lines[0].unit_amount"),
        ({"lines": [_line(quantity=2, unit_amount=MAX_AMOUNT // 2 + 1)]}, "lines[0]"),
        ({"lines": [_line(unit_amount=MAX_AMOUNT), _line(unit_amount=1)]}, "lines"),
        ({"lines": [_line(unit_amount=MAX_AMOUNT)], "shipping_amount": 1}, "total"),
        ({"shipping_amount": MAX_AMOUNT + 1}, "shipping_amount"),
        ({"tax_amount": -5}, "tax_amount"),
        ({"lines": [_line(quantity=10**7)]}, "lines[0].quantity"),
    ],
)
def test_amount_overflow_is_a_400_not_a_500(secret_client, order_payload, overrides, param):
    response = secret_client.post("/v1/orders", {**order_payload, **overrides}, format="json")

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert Order.objects.count() == 0


def test_total_at_the_maximum_is_accepted(secret_client, order_payload):
    payload = {**order_payload, "lines": [_line(unit_amount=MAX_AMOUNT - 2)], "shipping_amount": 1, "tax_amount": 1}

    response = secret_client.post("/v1/orders", payload, format="json")

    assert response.status_code == 201
    assert Order.objects.get().total == MAX_AMOUNT


@pytest.mark.parametrize("currency", ["XYZ", "us", "", 840])
def test_invalid_currency_is_refused(secret_client, order_payload, currency):
    response = secret_client.post("/v1/orders", {**order_payload, "currency": currency}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == "currency"
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "metadata",
    [{"k": 1}, {"x" * 41: "v"}, {"k": "v" * 501}, {str(i): "v" for i in range(51)}, ["a"]],
)
def test_invalid_metadata_is_refused(secret_client, order_payload, metadata):
    response = secret_client.post("/v1/orders", {**order_payload, "metadata": metadata}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == "metadata"


def test_customer_of_another_merchant_is_a_404_and_nothing_is_written(
    secret_client, order_payload, other_merchant_keys
):
    stranger = CustomerFactory(merchant_id=other_merchant_keys.merchant_id)

    response = secret_client.post("/v1/orders", {**order_payload, "customer": stranger.id}, format="json")

    assert response.status_code == 404
    assert error_of(response)["param"] == "customer"
    assert (Order.objects.count(), Event.objects.count(), Notification.objects.count()) == (0, 0, 0)


def test_missing_customer_is_a_400(secret_client, order_payload):
    payload = {k: v for k, v in order_payload.items() if k != "customer"}

    response = secret_client.post("/v1/orders", payload, format="json")

    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("parameter_missing", "customer")


def test_erased_customer_cannot_place_orders(secret_client, order_payload, customer):
    from customers.services import customer_erase

    customer_erase(merchant_id=customer.merchant_id, customer_id=customer.id)

    response = secret_client.post("/v1/orders", order_payload, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "customer_erased"
    assert Order.objects.count() == 0


def test_publishable_key_cannot_create_orders(publishable_client, order_payload):
    response = publishable_client.post("/v1/orders", order_payload, format="json")

    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_idempotency_key_replays_the_first_order(secret_client, order_payload):
    first = secret_client.post("/v1/orders", order_payload, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = secret_client.post("/v1/orders", order_payload, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert Event.objects.filter(type="order.created").count() == 1
    assert Notification.objects.count() == 1


def test_create_stays_within_its_query_budget(secret_client, order_payload, django_assert_max_num_queries):
    secret_client.get("/v1/account")  # warm the API key cache, as in steady state

    with django_assert_max_num_queries(10):
        response = secret_client.post("/v1/orders", order_payload, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize("body", [[], "just a string", 42])
def test_body_that_is_not_an_object_is_a_400(secret_client, body):
    response = secret_client.post("/v1/orders", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert Order.objects.count() == 0
