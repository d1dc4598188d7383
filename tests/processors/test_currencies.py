"""Each processor's currency rules at its boundary, through the API: the gateway speaks ISO 4217
minor units; what a processor is sent is exactly what it charges, or the payment is refused
(400, naming the processor) before any call. The fakes judge by their own transcription of
Stripe's and PayPal's rules (``tests/fakes/stripe_spec.py``, ``paypal_spec.py``)."""

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests

from gateway.money import CURRENCY_EXPONENTS
from payments.models import Payment, PaymentAttempt
from payments.reconciliation import ledger_check
from processors.services import processor_account_create, processor_route_set
from sandbox.models import SandboxCharge
from tests.conftest import REQUEST_TIMEOUT_SECONDS
from tests.fakes import paypal_spec, stripe_spec

from .conftest import paypal_account_for, stripe_account_for

pytestmark = pytest.mark.django_db

CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = "http://testserver"
    settings.RATE_LIMIT_ENABLED = False  # the tables send a few hundred payments in a row


def _value(amount: int, currency: str) -> Decimal:
    """ISO minor units as the amount of money they stand for."""
    return Decimal(amount).scaleb(-CURRENCY_EXPONENTS[currency])


def _amounts(currency: str) -> tuple[int, int]:
    """1234 whole units, and the same plus one minor unit (a fraction, where ISO has fractions)."""
    whole = 1234 * 10 ** CURRENCY_EXPONENTS[currency]
    return whole, whole + 1


def _stripe_expects(amount: int, currency: str) -> str | None:
    """By the fake Stripe's rules: None (charged exactly), or the code of the refusal before any call."""
    decimals = stripe_spec.decimals(currency)
    if decimals is None:
        return "currency_not_supported"
    wire = _value(amount, currency).scaleb(decimals)
    if wire != wire.to_integral_value() or int(wire) % stripe_spec.AMOUNT_STEP.get(currency.lower(), 1):
        return "amount_not_representable"
    return None


def _paypal_expects(amount: int, currency: str) -> str | None:
    if currency not in paypal_spec.CURRENCIES:
        return "currency_not_supported"
    wire = _value(amount, currency).scaleb(0 if currency in paypal_spec.NO_DECIMALS else 2)
    return None if wire == wire.to_integral_value() else "amount_not_representable"


def _pay(client, *, amount: int, currency: str, method: dict, capture_method: str = "automatic"):
    body = {
        "amount": amount,
        "currency": currency.lower(),
        "payment_method": method,
        "confirm": True,
        "capture_method": capture_method,
    }
    return client.post("/v1/payments", body, format="json")


def _refused_before_any_call(response, *, code: str, processor: str, fake, calls_before: int) -> str | None:
    error = response.json().get("error") or {}
    if response.status_code != 400 or (error.get("code"), error.get("processor")) != (code, processor):
        return f"expected 400 {code} from {processor}, got {response.status_code} {error}"
    if len(fake.log) != calls_before:
        return f"{processor} was called"
    return None


def _stripe_case(client, fake, currency: str, amount: int) -> str | None:
    expected, calls = _stripe_expects(amount, currency), len(fake.log)
    response = _pay(client, amount=amount, currency=currency, method=CARD)
    if expected is not None:
        return _refused_before_any_call(response, code=expected, processor="stripe", fake=fake, calls_before=calls)
    body = response.json()
    if response.status_code != 201 or body.get("amount_received") != amount:
        return f"expected a charge of {amount}, got {response.status_code} {body}"
    [intent] = fake.intents_for(PaymentAttempt.objects.get(payment_id=body["id"]).id)
    charged = Decimal(intent["amount_received"]).scaleb(-stripe_spec.decimals(currency))
    return None if charged == _value(amount, currency) else f"Stripe charged {charged}, not {_value(amount, currency)}"


def _paypal_case(client, browser, fake, currency: str, amount: int) -> str | None:
    expected, calls = _paypal_expects(amount, currency), len(fake.log)
    response = _pay(client, amount=amount, currency=currency, method={"type": "paypal"})
    if expected is not None:
        return _refused_before_any_call(response, code=expected, processor="paypal", fake=fake, calls_before=calls)
    body = response.json()
    if response.status_code != 201 or body.get("status") != "requires_action":
        return f"expected a PayPal order, got {response.status_code} {body}"
    page = requests.get(
        body["next_action"]["redirect_to_url"]["url"], allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS
    )
    location = urlsplit(page.headers["Location"])
    browser.get(f"{location.path}?{location.query}")
    payment = Payment.objects.get(pk=body["id"])
    [order] = fake.orders_for(PaymentAttempt.objects.filter(payment_id=payment.id).order_by("id").first().id)
    [capture] = order["purchase_units"][0]["payments"]["captures"]
    charged = Decimal(capture["amount"]["value"])
    if (payment.status, payment.amount_received) != ("succeeded", amount) or charged != _value(amount, currency):
        return f"PayPal captured {charged} for {_value(amount, currency)}; payment {payment.status}"
    return None


def _every_currency(case) -> dict[tuple[str, int], str]:
    """``case(currency, amount)`` for a whole amount and one minor unit more of every currency of
    gateway/money.py; what went wrong, by (currency, amount)."""
    return {
        (currency, amount): problem
        for currency in sorted(CURRENCY_EXPONENTS)
        for amount in _amounts(currency)
        if (problem := case(currency, amount))
    }


@pytest.mark.slow
def test_every_currency_at_stripe_is_charged_exactly_or_refused_before_any_call(
    secret_client, merchant_keys, fake_stripe
):
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    assert _every_currency(lambda currency, amount: _stripe_case(secret_client, fake_stripe, currency, amount)) == {}
    assert ledger_check() == []


@pytest.mark.slow
def test_every_currency_at_paypal_is_captured_exactly_or_refused_before_any_call(
    secret_client, api_client, merchant_keys, fake_paypal
):
    account = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[account.id])
    problems = _every_currency(
        lambda currency, amount: _paypal_case(secret_client, api_client, fake_paypal, currency, amount)
    )
    assert problems == {}
    assert ledger_check() == []


@pytest.mark.slow
def test_every_currency_at_the_sandbox_is_charged_in_iso_units(secret_client):
    # The sandbox keeps its book in ISO minor units: every amount, to the last minor unit, is exact.
    problems = {}
    for currency in sorted(CURRENCY_EXPONENTS):
        amount = _amounts(currency)[1]
        body = _pay(secret_client, amount=amount, currency=currency, method=CARD).json()
        charge = SandboxCharge.objects.get(reference=PaymentAttempt.objects.get(payment_id=body["id"]).id)
        if (body["amount_received"], charge.amount_captured, charge.currency) != (amount, amount, currency):
            problems[(currency, amount)] = body
    assert problems == {}


# --- the findings, one by one ---------------------------------------------------------------------------


@pytest.fixture
def stripe_routed(merchant_keys, fake_stripe):
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    return account


@pytest.fixture
def paypal_routed(merchant_keys, fake_paypal):
    account = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[account.id])
    return account


def test_isk_is_sent_to_stripe_with_two_decimals(secret_client, stripe_routed, fake_stripe):
    # 500 kr (ISO 4217: no decimals) is 50000 in Stripe's API, not 500 (which Stripe reads as 5 kr)
    body = _pay(secret_client, amount=500, currency="ISK", method=CARD).json()
    assert (body["status"], body["amount_received"]) == ("succeeded", 500)
    [intent] = fake_stripe.intents.values()
    assert (intent["currency"], intent["amount"], intent["amount_received"]) == ("isk", 50000, 50000)


def test_mga_is_zero_decimal_at_stripe(secret_client, stripe_routed, fake_stripe):
    # 5.00 MGA (ISO: two decimals) is 5 at Stripe; 5.50 MGA cannot be sent and is never rounded
    body = _pay(secret_client, amount=500, currency="MGA", method=CARD).json()
    assert body["amount_received"] == 500 and [pi["amount"] for pi in fake_stripe.intents.values()] == [5]
    refused = _pay(secret_client, amount=550, currency="MGA", method=CARD)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["processor"], error["param"]) == ("amount_not_representable", "stripe", "amount")
    assert "Stripe" in error["message"] and len(fake_stripe.intents) == 1
    assert Payment.objects.count() == 1  # the refused payment was not written


def test_three_decimal_currencies_end_in_zero_at_stripe(secret_client, stripe_routed, fake_stripe):
    assert _pay(secret_client, amount=1230, currency="KWD", method=CARD).json()["amount_received"] == 1230
    refused = _pay(secret_client, amount=1234, currency="KWD", method=CARD)
    assert refused.json()["error"]["code"] == "amount_not_representable"
    assert [pi["amount"] for pi in fake_stripe.intents.values()] == [1230]


def test_huf_and_twd_take_no_decimals_at_paypal_and_kwd_is_not_a_paypal_currency(
    secret_client, paypal_routed, fake_paypal
):
    for currency in ("HUF", "TWD"):
        created = _pay(secret_client, amount=150000, currency=currency, method={"type": "paypal"})
        assert created.json()["status"] == "requires_action", created.json()
    values = [o["purchase_units"][0]["amount"] for o in fake_paypal.orders.values()]
    assert values == [{"currency_code": "HUF", "value": "1500"}, {"currency_code": "TWD", "value": "1500"}]
    for currency, amount, code in (
        ("HUF", 150050, "amount_not_representable"),
        ("KWD", 1234, "currency_not_supported"),
    ):
        refused = _pay(secret_client, amount=amount, currency=currency, method={"type": "paypal"})
        error = refused.json()["error"]
        assert (refused.status_code, error["code"], error["processor"]) == (400, code, "paypal")
    assert len(fake_paypal.orders) == 2


def test_routing_skips_a_processor_that_cannot_take_the_currency(secret_client, merchant_keys, fake_stripe):
    # Given cards routed to Stripe, then to a sandbox account
    stripe = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    sandbox = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="Sandbox", credentials={}
    )
    processor_route_set(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[stripe.id, sandbox.id]
    )
    # When a payment is in a currency Stripe does not take (IRR), or an amount it cannot express (5.50 MGA)
    for currency, amount in (("IRR", 123456), ("MGA", 550)):
        body = _pay(secret_client, amount=amount, currency=currency, method=CARD).json()
        # Then it goes to the next processor of the route that can take it; Stripe is never called
        assert (body["status"], body["amount_received"]) == ("succeeded", amount)
        assert [a.processor_account_id for a in PaymentAttempt.objects.filter(payment_id=body["id"])] == [sandbox.id]
    assert fake_stripe.log == []


def test_no_processor_can_take_the_currency_is_a_400_not_a_503(secret_client, stripe_routed, fake_stripe):
    response = _pay(secret_client, amount=123456, currency="IRR", method=CARD)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"], error["processor"]) == (
        "invalid_request_error",
        "currency_not_supported",
        "currency",
        "stripe",
    )
    assert fake_stripe.log == [] and not Payment.objects.exists()


def test_partial_capture_obeys_the_processors_rules(secret_client, stripe_routed, fake_stripe):
    # Given 500.00 MGA authorized at Stripe (50000 ISO minor units, 500 at Stripe)
    payment_id = _pay(secret_client, amount=50000, currency="MGA", method=CARD, capture_method="manual").json()["id"]
    # When 123.45 MGA is to be captured: Stripe has no fraction of an ariary
    refused = secret_client.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 12345}, format="json")
    # Then it is refused before any call, and the payment is still capturable
    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == (
        "amount_not_representable",
        "amount_to_capture",
    )
    assert Payment.objects.get(pk=payment_id).status == "requires_capture"
    assert fake_stripe.requests_to("/v1/payment_intents/", "POST") == []
    # and 123.00 MGA is captured as 123 at Stripe
    captured = secret_client.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 12300}, format="json")
    assert captured.json()["amount_received"] == 12300
    assert [pi["amount_received"] for pi in fake_stripe.intents.values()] == [123]
    assert ledger_check() == []


def test_refunds_obey_the_processors_rules(secret_client, api_client, paypal_routed, stripe_routed, fake_paypal):
    # Given 1000 kr paid at Stripe: a 250 kr refund is 25000 in Stripe's units
    isk = _pay(secret_client, amount=1000, currency="ISK", method=CARD).json()["id"]
    refund = secret_client.post("/v1/refunds", {"payment": isk, "amount": 250}, format="json").json()
    assert (refund["status"], refund["amount"]) == ("succeeded", 250)
    # Given 1500 HUF paid at PayPal: 50.50 HUF cannot be refunded there, 50 HUF is sent as "50"
    body = _pay(secret_client, amount=150000, currency="HUF", method={"type": "paypal"}).json()
    page = requests.get(
        body["next_action"]["redirect_to_url"]["url"], allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS
    )
    location = urlsplit(page.headers["Location"])
    api_client.get(f"{location.path}?{location.query}")
    refused = secret_client.post("/v1/refunds", {"payment": body["id"], "amount": 5050}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "amount_not_representable")
    done = secret_client.post("/v1/refunds", {"payment": body["id"], "amount": 5000}, format="json").json()
    assert done["status"] == "succeeded"
    assert [r["amount"] for r in fake_paypal.refunds.values()] == [{"currency_code": "HUF", "value": "50"}]
    assert Payment.objects.get(pk=body["id"]).amount_refunded == 5000
    assert ledger_check() == []
