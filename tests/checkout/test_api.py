"""POST/GET /v1/checkout/sessions, list, expire: shapes, validation, tenancy, idempotency."""

import time

import pytest

from checkout.models import CheckoutSession
from events.models import Event
from orders.models import OrderStatus
from tests.orders.factories import OrderFactory

from .conftest import CANCEL_URL, SUCCESS_URL

pytestmark = pytest.mark.django_db


def test_create_for_an_amount_answers_an_open_unpaid_session(create_session):
    started = time.monotonic()
    session = create_session(metadata={"cart": "42"}, locale="de")
    took = time.monotonic() - started  # between the expiry's "now" and the row's creation, at most
    assert session["object"] == "checkout_session"
    assert session["id"].startswith("cs_") and len(session["id"]) == 55
    assert session["url"].endswith(f"/pay/{session['id']}")
    assert (session["status"], session["payment_status"], session["payment"]) == ("open", "unpaid", None)
    assert (session["amount_total"], session["currency"]) == (2500, "USD")
    assert session["payment_method_types"] == ["card", "paypal"]  # the sandbox takes both in test mode
    assert 24 * 3600 - took - 1 <= session["expires_at"] - session["created"] <= 24 * 3600
    assert session["metadata"] == {"cart": "42"} and session["locale"] == "de"


def test_create_for_an_order_takes_its_outstanding_total_and_lines(create_session, order):
    session = create_session(order=order.id)
    assert session["amount_total"] == 2500 and session["order"] == order.id
    assert session["customer"] == order.customer_id
    assert session["line_items"] == [{"description": "Green tea", "quantity": 2, "amount": 2500}]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"success_url": "http://shop.example.com/ok"}, "success_url", "url_invalid"),
        ({"cancel_url": "ftp://127.0.0.1/x"}, "cancel_url", "url_invalid"),
        ({"success_url": "https://user:pw@shop.example.com/"}, "success_url", "url_invalid"),
        ({"amount": 0}, "amount", "amount_out_of_range"),
        ({"amount": 10.5}, "amount", "parameter_invalid"),
        ({"currency": "xyz"}, "currency", "invalid_currency"),
        ({"expires_at": 1}, "expires_at", "parameter_invalid"),
        ({"locale": "xx-nowhere"}, "locale", "parameter_invalid"),
        ({"payment_method_types": ["cash"]}, "payment_method_types[0]", "parameter_invalid"),
        ({"line_items": [{"description": "Tea", "amount": 100}]}, "line_items", "amount_mismatch"),
        ({"surprise": 1}, "surprise", "parameter_invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(create_session, body, param, code):
    error = create_session(expected=400, **body)["error"]
    assert (error["param"], error["code"]) == (param, code), error
    assert not CheckoutSession.objects.exists()


def test_expires_at_between_30_minutes_and_a_day(create_session):
    now = int(time.time())
    # accepted; 30 minutes from the server's "now", which is at least ours (however slow the request)
    assert now + 1800 <= create_session(expires_at=now + 1800)["expires_at"] <= int(time.time()) + 1800
    create_session(expected=400, expires_at=now + 600)
    create_session(expected=400, expires_at=now + 2 * 86400)


def test_order_rules(create_session, order, other_merchant_keys):
    assert create_session(expected=400, order=order.id, amount=100)["error"]["param"] == "amount"
    assert create_session(expected=404, order="ord_01m8t8qfx6cmbazedcc9ghba75")["error"]["param"] == "order"
    paid = OrderFactory(customer=order.customer, status=OrderStatus.PAID)
    assert create_session(expected=409, order=paid.id)["error"]["code"] == "order_not_payable"
    foreign = OrderFactory()
    assert create_session(expected=404, order=foreign.id)["error"]["code"] == "resource_missing"


def test_idempotency_key_replays_the_same_session(create_session):
    first = create_session(headers={"HTTP_IDEMPOTENCY_KEY": "cs-1"})
    again = create_session(headers={"HTTP_IDEMPOTENCY_KEY": "cs-1"})
    assert again["id"] == first["id"] and CheckoutSession.objects.count() == 1


def test_another_merchant_sees_a_404(create_session, other_merchant_keys):
    session = create_session()
    other = other_merchant_keys.client("secret")
    assert other.get(f"/v1/checkout/sessions/{session['id']}").status_code == 404
    assert other.post(f"/v1/checkout/sessions/{session['id']}/expire").status_code == 404
    assert other.get("/v1/checkout/sessions").json()["data"] == []


def test_publishable_key_cannot_create_sessions(merchant_keys):
    response = merchant_keys.client("publishable").post(
        "/v1/checkout/sessions",
        {"amount": 100, "currency": "usd", "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL},
        format="json",
    )
    assert response.status_code == 403


def test_list_filters_and_retrieve(create_session, secret_client, order):
    plain = create_session()
    for_order = create_session(order=order.id)
    listed = secret_client.get("/v1/checkout/sessions").json()
    assert [s["id"] for s in listed["data"]] == [for_order["id"], plain["id"]]
    assert [s["id"] for s in secret_client.get(f"/v1/checkout/sessions?order={order.id}").json()["data"]] == [
        for_order["id"]
    ]
    assert secret_client.get("/v1/checkout/sessions?status=complete").json()["data"] == []
    assert secret_client.get("/v1/checkout/sessions?status=bogus").status_code == 400
    assert secret_client.get(f"/v1/checkout/sessions/{plain['id']}").json()["id"] == plain["id"]


def test_expire_an_open_session_once(create_session, secret_client):
    session = create_session()
    expired = secret_client.post(f"/v1/checkout/sessions/{session['id']}/expire").json()
    assert (expired["status"], expired["url"]) == ("expired", None)
    assert Event.objects.filter(type="checkout.session.expired").count() == 1
    again = secret_client.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert again.status_code == 409 and again.json()["error"]["code"] == "checkout_session_unexpected_state"
