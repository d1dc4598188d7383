"""Checkout fixtures: a merchant with keys, sessions created through the API, and a browser-like
Django test client on the hosted page (cookies, CSRF tokens read from the page)."""

import re

import pytest
from django.test import Client

from merchants.models import Merchant
from payments.reconciliation import ledger_check
from tests.customers.factories import CustomerFactory
from tests.orders.factories import OrderFactory

SUCCESS = "4242424242424242"
DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
THREE_DS = "4000002500003155"
SUCCESS_URL = "http://127.0.0.1:9/done?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://127.0.0.1:9/cart"


def assert_books_balance(merchant_id: str | None = None) -> None:
    violations = ledger_check(merchant_id=merchant_id)
    assert violations == [], violations


@pytest.fixture
def merchant(merchant_keys) -> Merchant:
    return Merchant.objects.get(id=merchant_keys.merchant_id)


@pytest.fixture
def customer(merchant):
    return CustomerFactory(merchant=merchant, email="ada@example.com", name="Ada Lovelace")


@pytest.fixture
def order(customer):
    return OrderFactory(
        customer=customer, lines=[{"sku": "TEA", "name": "Green tea", "quantity": 2, "unit_amount": 1250}]
    )


@pytest.fixture
def create_session(secret_client):
    def create(expected: int | None = 201, headers: dict | None = None, **body):
        if "order" not in body:
            body.setdefault("amount", 2500)
            body.setdefault("currency", "usd")
            body.setdefault("line_items", [{"description": "Green tea", "quantity": 2, "amount": 2500}])
        body.setdefault("success_url", SUCCESS_URL)
        body.setdefault("cancel_url", CANCEL_URL)
        response = secret_client.post("/v1/checkout/sessions", body, format="json", **(headers or {}))
        if expected is not None:
            assert response.status_code == expected, response.content
        return response.json()

    return create


class PageClient:
    """The customer's browser without JavaScript: GET the page, post its forms."""

    def __init__(self):
        self.client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")

    def get(self, path: str, **extra):
        return self.client.get(path, **extra)

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        assert match, page.content.decode()
        return match.group(1)

    def post(self, path: str, data: dict, *, page: str | None = None):
        data = {"csrfmiddlewaretoken": self.csrf(page or path), **data}
        return self.client.post(path, data)

    def pay_card(self, session_id: str, number: str = SUCCESS, **fields):
        data = {"method": "card", "number": number, "expiry": "12 / 34", "cvc": "737", "name": "Ada Lovelace"}
        data.update(fields)
        return self.post(f"/pay/{session_id}", data)


@pytest.fixture
def page() -> PageClient:
    return PageClient()
