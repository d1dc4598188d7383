"""POST /v1/payment_methods (publishable key, from the browser) and paying with the pm_ it
answers: once, within 30 minutes, unless attached to a customer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import Merchant
from payments.models import Payment, PaymentMethod
from payments.services.tokenization import payment_methods_expired_purge
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example.com"
CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "737"}}


@pytest.fixture
def tokenize(publishable_client, merchant_keys):
    Merchant.objects.filter(id=merchant_keys.merchant_id).update(settings={"allowed_origins": [ORIGIN]})

    def call(body=CARD, origin=ORIGIN, expected=201):
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        response = publishable_client.post("/v1/payment_methods", body, format="json", **headers)
        assert response.status_code == expected, response.content
        return response

    return call


def test_card_in_pm_out_never_the_number(tokenize):
    response = tokenize()
    data = response.json()
    assert data["id"].startswith("pm_") and data["object"] == "payment_method"
    assert data["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    assert b"4242424242424242" not in response.content and b"737" not in response.content
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_only_for_the_merchants_origins(tokenize, api_client):
    refused = tokenize(origin="https://evil.example.net", expected=403)
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused
    assert not PaymentMethod.objects.exists()
    preflight = api_client.options("/v1/payment_methods", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 204 and "Authorization" in preflight["Access-Control-Allow-Headers"]
    tokenize(origin=None)  # a server-side call (no Origin) is no cross-origin call


def test_invalid_card_is_a_400_naming_the_field(tokenize):
    bad = {"type": "card", "card": {**CARD["card"], "number": "4242424242424241"}}
    error = tokenize(body=bad, expected=400).json()["error"]
    assert error["param"] == "card.number" and "4242424242424241" not in error["message"]


def test_usable_once_by_the_secret_key(tokenize, secret_client):
    pm = tokenize().json()["id"]
    body = {"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
    assert secret_client.post("/v1/payments", body, format="json").json()["status"] == "succeeded"
    again = secret_client.post("/v1/payments", body, format="json")
    assert again.status_code == 404 and again.json()["error"]["param"] == "payment_method"
    assert Payment.objects.filter(status="succeeded").count() == 1


def test_not_usable_after_30_minutes_and_purged(tokenize, secret_client):
    pm = tokenize().json()["id"]
    PaymentMethod.objects.filter(pk=pm).update(single_use_expires_at=timezone.now() - timedelta(seconds=1))
    body = {"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
    assert secret_client.post("/v1/payments", body, format="json").status_code == 404
    assert payment_methods_expired_purge() == 1
    assert PaymentMethod.objects.get(pk=pm).vault_token == ""


def test_another_merchants_secret_key_cannot_use_it(tokenize, other_merchant_keys):
    pm = tokenize().json()["id"]
    body = {"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
    assert other_merchant_keys.client("secret").post("/v1/payments", body, format="json").status_code == 404


def test_saved_for_a_customer_it_becomes_reusable(tokenize, secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    pm = tokenize().json()["id"]
    body = {"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": pm, "confirm": True}
    first = secret_client.post("/v1/payments", {**body, "save_payment_method": True}, format="json")
    assert first.json()["status"] == "succeeded"
    assert PaymentMethod.objects.get(pk=pm).customer_id == customer.id
    off_session = secret_client.post("/v1/payments", {**body, "off_session": True}, format="json")
    assert off_session.status_code == 201 and off_session.json()["status"] == "succeeded"


def test_off_session_needs_a_saved_method_and_confirm(tokenize, secret_client):
    pm = tokenize().json()["id"]
    body = {"amount": 1000, "currency": "usd", "payment_method": pm, "off_session": True}
    assert secret_client.post("/v1/payments", body, format="json").json()["error"]["param"] == "off_session"
    refused = secret_client.post("/v1/payments", {**body, "confirm": True}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "payment_method"


def test_its_own_rate_limit(tokenize, settings):
    settings.PAYMENT_METHODS_RATE_BURST = 2
    settings.PAYMENT_METHODS_RATE_PER_SECOND = 0.001
    tokenize()
    tokenize()
    limited = tokenize(expected=429)
    assert limited.json()["error"]["type"] == "rate_limit_error" and limited["Retry-After"]
