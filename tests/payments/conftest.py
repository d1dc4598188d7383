"""Payments fixtures and helpers: card payloads, the sandbox's own book, the browser's trip
through the sandbox's 3-D Secure / PayPal pages, and the ledger check every scenario ends with."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from merchants.models import Merchant
from merchants.services import merchant_settings_set
from payments.models import Payment
from payments.reconciliation import ledger_check
from sandbox.models import SandboxCharge, SandboxRefund
from tests.customers.factories import CustomerFactory

SUCCESS = "4242424242424242"
MASTERCARD = "5555555555554444"
DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
PROCESSING_ERROR = "4000000000000119"
THREE_DS = "4000002500003155"
TEST_CARDS = (
    SUCCESS,
    MASTERCARD,
    DECLINE,
    INSUFFICIENT_FUNDS,
    "4000000000009987",
    "4000000000009979",
    "4000000000000069",
    "4000000000000127",
    PROCESSING_ERROR,
    THREE_DS,
)
CVC = "737"  # distinctive, so a leak would be noticed in dumps and logs


def card(number: str = SUCCESS, *, cvc: str = CVC, exp_month: int = 12, exp_year: int = 2034) -> dict:
    return {"type": "card", "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}}


PAYPAL = {"type": "paypal"}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def assert_books_balance(merchant_id: str | None = None) -> None:
    violations = ledger_check(merchant_id=merchant_id)
    assert violations == [], violations


def sandbox_charges(merchant_id: str) -> list[SandboxCharge]:
    return list(SandboxCharge.objects.filter(merchant_id=merchant_id).order_by("created"))


def sandbox_refunds(merchant_id: str) -> list[SandboxRefund]:
    return list(SandboxRefund.objects.filter(merchant_id=merchant_id).order_by("created"))


def set_sandbox_options(merchant_id: str, **options) -> None:
    merchant_settings_set(merchant_id=merchant_id, settings={"sandbox": options})


def browser_answers(redirect_url: str, *, approve: bool) -> str:
    """The customer's browser on the sandbox's challenge/approval page: GET it, submit the
    form, follow the redirect back to our return endpoint. Returns the final Location (the
    merchant's return_url) or the page body."""
    browser = Client()
    page_path = urlsplit(redirect_url).path
    page = browser.get(page_path)
    assert page.status_code == 200, page.content
    html = page.content.decode()
    kind = "paypal" if "/paypal/" in page_path else "3ds"
    choice = {
        ("3ds", True): "complete",
        ("3ds", False): "fail",
        ("paypal", True): "approve",
        ("paypal", False): "cancel",
    }[(kind, approve)]
    assert f'value="{choice}"' in html, html
    answered = browser.post(page_path, {"result": choice})
    assert answered.status_code == 302, answered.content
    back = urlsplit(answered["Location"])
    assert back.path.startswith("/v1/payments/") and back.path.endswith("/return"), answered["Location"]
    returned = browser.get(back.path + ("?" + back.query if back.query else ""))
    if returned.status_code == 302:
        return returned["Location"]
    assert returned.status_code == 200, returned.content
    return returned.content.decode()


@pytest.fixture
def merchant(merchant_keys) -> Merchant:
    return Merchant.objects.get(id=merchant_keys.merchant_id)


@pytest.fixture
def customer(merchant):
    return CustomerFactory(merchant=merchant, email="grace@example.com", name="Grace Hopper")


@pytest.fixture
def create_payment(secret_client):
    """POST /v1/payments; returns the response."""

    def create(expected: int | None = 201, **body):
        body.setdefault("amount", 2000)
        body.setdefault("currency", "usd")
        response = secret_client.post("/v1/payments", body, format="json")
        if expected is not None:
            assert response.status_code == expected, response.content
        return response

    return create


@pytest.fixture
def payment_row():
    def get(payment_id: str) -> Payment:
        return Payment.objects.get(pk=payment_id)

    return get
