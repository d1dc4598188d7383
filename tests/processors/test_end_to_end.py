"""End to end through the API: POST /v1/payments routed to the fake Stripe (card, in Stripe's
default card mode: a PaymentMethod from the card, then the PaymentIntent) and the fake PayPal
(paypal), refunds, faults, status sync, breakers, fallback and incoming webhooks.

Every scenario ends with the fakes' own books (no double charge) and ``ledger_check``.
"""

import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests

from payments.models import Payment, PaymentAttempt, Refund
from payments.reconciliation import ledger_check
from payments.services import payment_sync
from processors.models import BreakerEvent, ProcessorWebhookEvent
from processors.services import processor_route_set
from processors.stripe import stripe_signature_header
from tests.fakes.stripe import FakeStripe
from tests.payments.schedule import clock_advance_to_due

from .conftest import (
    BREAKER_RESET_TIMEOUT,
    SHORT_READ_TIMEOUT,
    only_held_call_times_out,
    paypal_account_for,
    short_read_timeout,
    stripe_account_for,
)

pytestmark = pytest.mark.django_db

SUCCESS, DECLINE_FUNDS, THREE_DS = "4242424242424242", "4000000000009995", "4000002500003155"


@pytest.fixture(autouse=True)
def _payments_settings(settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = "http://testserver"
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0  # the fake's search is immediately consistent


@pytest.fixture
def routed(merchant_keys, fake_stripe, fake_paypal):
    """A merchant whose cards go to the fake Stripe and PayPal payments to the fake PayPal."""
    stripe = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    paypal = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[stripe.id])
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[paypal.id])
    return {"stripe": stripe, "paypal": paypal}


def _card(number: str) -> dict:
    return {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}


def _pay(client, method: dict, *, amount: int = 2000, capture_method: str = "automatic", key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/v1/payments",
        {
            "amount": amount,
            "currency": "usd",
            "payment_method": method,
            "confirm": True,
            "capture_method": capture_method,
        },
        format="json",
        **headers,
    )


def _payment_id(response) -> str:
    body = response.json()
    return body["id"] if "id" in body else body["error"]["payment"]["id"]


def _attempts(payment_id: str) -> list[PaymentAttempt]:
    return list(PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id"))


def _return(api_client, redirect_location: str):
    """The customer's browser lands on our return endpoint (the fake redirected it there)."""
    parts = urlsplit(redirect_location)
    return api_client.get(f"{parts.path}?{parts.query}")


# --- flows ------------------------------------------------------------------------------------------


def test_card_success_through_stripe(secret_client, routed, fake_stripe):
    response = _pay(secret_client, _card(SUCCESS), amount=2000)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["amount_received"], body["processor"]) == ("succeeded", 2000, "stripe")
    [attempt] = _attempts(body["id"])
    assert (attempt.status, attempt.processor_account_id) == ("succeeded", routed["stripe"].id)
    assert attempt.processor_reference.startswith("pi_") and attempt.latency_ms is not None
    [intent] = fake_stripe.intents_for(attempt.id)  # our attempt id is Stripe's idempotency key
    assert intent["amount_received"] == 2000 and intent["id"] == attempt.processor_reference
    # Stripe's default card mode: the card became a PaymentMethod, which the PaymentIntent names
    [payment_method] = fake_stripe.payment_methods.values()
    assert intent["payment_method"] == payment_method["id"] and payment_method["card"]["last4"] == "4242"
    [method_call] = fake_stripe.requests_to("/v1/payment_methods", "POST")
    assert method_call.headers["idempotency-key"] == f"{attempt.id}:payment_method"
    assert ledger_check() == []


def test_card_decline_through_stripe(secret_client, routed, fake_stripe):
    response = _pay(secret_client, _card(DECLINE_FUNDS))
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["decline_code"]) == ("card_error", "insufficient_funds")
    payment = Payment.objects.get(pk=error["payment"]["id"])
    assert payment.status == "requires_payment_method" and payment.amount_received == 0
    assert fake_stripe.total_received() == 0
    assert ledger_check() == []


def test_three_d_secure_through_stripe(secret_client, api_client, routed, fake_stripe):
    response = _pay(secret_client, _card(THREE_DS), amount=3100)
    body = response.json()
    assert body["status"] == "requires_action"
    redirect = body["next_action"]["redirect_to_url"]["url"]
    assert redirect.startswith(f"{fake_stripe.base_url}/3ds/")
    # the customer passes the challenge on Stripe's page and is sent back to our return endpoint
    challenge = requests.get(redirect, allow_redirects=False, timeout=30)
    assert challenge.headers["Location"] == f"http://testserver/v1/payments/{body['id']}/return"
    _return(api_client, challenge.headers["Location"])
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 3100)
    assert fake_stripe.total_received() == 3100
    assert ledger_check() == []


def test_manual_capture_and_partial_refunds_through_stripe(secret_client, routed, fake_stripe):
    payment_id = _pay(secret_client, _card(SUCCESS), amount=5000, capture_method="manual").json()["id"]
    captured = secret_client.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 4000}, format="json")
    assert captured.json()["status"] == "succeeded" and captured.json()["amount_received"] == 4000
    for amount in (1000, 500):
        refund = secret_client.post("/v1/refunds", {"payment": payment_id, "amount": amount}, format="json")
        assert refund.status_code == 201 and refund.json()["status"] == "succeeded", refund.json()
    over = secret_client.post("/v1/refunds", {"payment": payment_id, "amount": 3000}, format="json")
    assert over.status_code >= 400
    assert (fake_stripe.total_received(), fake_stripe.total_refunded()) == (4000, 1500)
    assert Payment.objects.get(pk=payment_id).amount_refunded == 1500
    assert ledger_check() == []


def test_paypal_approve_capture_and_refund(secret_client, api_client, routed, fake_paypal):
    response = _pay(secret_client, {"type": "paypal"}, amount=1050)
    body = response.json()
    assert body["status"] == "requires_action"
    approve = body["next_action"]["redirect_to_url"]["url"]
    assert approve.startswith(f"{fake_paypal.base_url}/checkoutnow?token=")
    # the buyer approves on PayPal, which sends the browser to our return endpoint
    page = requests.get(approve, allow_redirects=False, timeout=30)
    assert page.status_code == 302
    _return(api_client, page.headers["Location"])
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received, payment.processor) == ("succeeded", 1050, "paypal")
    assert fake_paypal.total_captured() == Decimal("10.50")
    refund = secret_client.post("/v1/refunds", {"payment": payment.id, "amount": 250}, format="json")
    assert refund.json()["status"] == "succeeded"
    assert fake_paypal.total_refunded() == Decimal("2.50")
    assert ledger_check() == []


def test_paypal_buyer_cancel_leaves_payment_retryable(secret_client, api_client, routed, fake_paypal):
    body = _pay(secret_client, {"type": "paypal"}).json()
    page = requests.get(body["next_action"]["redirect_to_url"]["url"] + "&cancel=1", allow_redirects=False, timeout=30)
    _return(api_client, page.headers["Location"])
    assert Payment.objects.get(pk=body["id"]).status == "requires_payment_method"
    assert fake_paypal.total_captured() == 0


# --- faults --------------------------------------------------------------------------------------


def test_latency_past_timeout_is_processing_then_synced_without_double_charge(secret_client, routed, fake_stripe):
    # Stripe holds the charge request past our read timeout
    fake_stripe.inject("hold", path="/v1/payment_intents")
    with short_read_timeout(routed["stripe"], path="/v1/payment_intents"):
        response = _pay(secret_client, _card(SUCCESS), amount=1234, key="order-42")
    payment_id = _payment_id(response)
    [attempt] = _attempts(payment_id)
    assert (attempt.status, attempt.error_code) == ("unknown", "timeout")
    assert Payment.objects.get(pk=payment_id).status == "processing"
    fake_stripe.release()  # the slow request completes at the fake: the charge is made
    # the client retries with its Idempotency-Key: replayed, nothing new is sent to Stripe
    posts = len(fake_stripe.requests_to("/v1/payment_intents", "POST"))
    assert _payment_id(_pay(secret_client, _card(SUCCESS), amount=1234, key="order-42")) == payment_id
    assert len(fake_stripe.requests_to("/v1/payment_intents", "POST")) == posts
    clock_advance_to_due()  # the first status query is due
    payment = payment_sync(payment_id=payment_id)
    assert (payment.status, payment.amount_received) == ("succeeded", 1234)
    assert len(fake_stripe.intents_for(attempt.id)) == 1 and fake_stripe.total_received() == 1234
    assert ledger_check() == []


@pytest.mark.parametrize("fault", ["status", "drop"])
def test_unprocessed_500_or_dropped_connection_syncs_to_retryable(secret_client, routed, fake_stripe, fault):
    fake_stripe.inject(fault, path="/v1/payment_intents", status=500)
    payment_id = _payment_id(_pay(secret_client, _card(SUCCESS)))
    assert Payment.objects.get(pk=payment_id).status == "processing"
    clock_advance_to_due()  # the first status query is due
    payment = payment_sync(payment_id=payment_id)
    assert payment.status in ("requires_payment_method", "requires_confirmation") and payment.amount_received == 0
    assert [a.status for a in _attempts(payment_id)] == ["failed"]
    assert fake_stripe.intents == {}
    retried = secret_client.post(
        f"/v1/payments/{payment_id}/confirm", {"payment_method": _card(SUCCESS)}, format="json"
    )
    assert retried.json()["status"] == "succeeded"
    assert fake_stripe.total_received() == 2000
    assert ledger_check() == []


def test_reply_lost_after_charge_syncs_to_succeeded_once(secret_client, routed, fake_stripe):
    fake_stripe.inject("reply_lost", path="/v1/payment_intents")
    payment_id = _payment_id(_pay(secret_client, _card(SUCCESS), amount=777))
    [attempt] = _attempts(payment_id)
    assert (attempt.status, attempt.error_code, attempt.processor_reference) == ("unknown", "connection_lost", "")
    clock_advance_to_due()  # the first status query is due
    payment = payment_sync(payment_id=payment_id)
    assert (payment.status, payment.amount_received) == ("succeeded", 777)
    assert len(fake_stripe.intents_for(attempt.id)) == 1 and fake_stripe.total_received() == 777
    assert ledger_check() == []


def test_paypal_capture_reply_lost_syncs_to_succeeded_once(secret_client, api_client, routed, fake_paypal):
    body = _pay(secret_client, {"type": "paypal"}, amount=4200).json()
    order_id = body["next_action"]["redirect_to_url"]["url"].rsplit("=", 1)[-1]
    fake_paypal.approve(order_id)
    fake_paypal.inject("reply_lost", path=f"/v2/checkout/orders/{order_id}/capture")
    api_client.get(f"/v1/payments/{body['id']}/return")
    assert Payment.objects.get(pk=body["id"]).status == "processing"
    clock_advance_to_due()  # the first status query is due
    payment = payment_sync(payment_id=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 4200)
    assert len(fake_paypal.captures) == 1 and fake_paypal.total_captured() == Decimal("42.00")
    assert ledger_check() == []


# --- routing, fallback, breakers -----------------------------------------------------------------


def test_falls_back_when_the_first_processor_is_down(secret_client, merchant_keys, fake_stripe):
    down = stripe_account_for(merchant_keys.merchant_id, fake_stripe, base_url=fake_stripe.refusing_url())
    up = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[down.id, up.id])
    body = _pay(secret_client, _card(SUCCESS)).json()
    assert body["status"] == "succeeded"
    first, second = _attempts(body["id"])
    assert (first.processor_account_id, first.status, first.error_code) == (down.id, "failed", "connection_error")
    assert (second.processor_account_id, second.status) == (up.id, "succeeded")
    assert fake_stripe.total_received() == 2000
    assert ledger_check() == []


def test_never_falls_back_after_an_ambiguous_outcome(secret_client, merchant_keys, fake_stripe):
    other = FakeStripe().start()
    try:
        slow = stripe_account_for(merchant_keys.merchant_id, fake_stripe, read_timeout=SHORT_READ_TIMEOUT)
        spare = stripe_account_for(merchant_keys.merchant_id, other)
        processor_route_set(
            merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[slow.id, spare.id]
        )
        fake_stripe.inject("hold", path="/v1/payment_intents")
        with only_held_call_times_out(path="/v1/payment_intents"):  # not the PaymentMethod call before it
            payment_id = _payment_id(_pay(secret_client, _card(SUCCESS)))
        assert Payment.objects.get(pk=payment_id).status == "processing"
        assert [(a.processor_account_id, a.error_code) for a in _attempts(payment_id)] == [(slow.id, "timeout")]
        assert other.log == []  # the second processor was never asked
        fake_stripe.release()
    finally:
        other.stop()


def test_all_routes_down_is_503_and_the_payment_stays_retryable(secret_client, merchant_keys, fake_stripe):
    accounts = [
        stripe_account_for(merchant_keys.merchant_id, fake_stripe, base_url=fake_stripe.refusing_url())
        for _ in range(2)
    ]
    processor_route_set(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[a.id for a in accounts]
    )
    response = _pay(secret_client, _card(SUCCESS))
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("api_error", "processor_unavailable")
    payment = Payment.objects.get(pk=error["payment"]["id"])
    assert payment.status in ("requires_payment_method", "requires_confirmation")
    assert [a.status for a in _attempts(payment.id)] == ["failed", "failed"]
    assert ledger_check() == []


def test_breaker_opens_fails_fast_and_closes_after_a_trial(secret_client, merchant_keys, fake_stripe, breaker_clock):
    # pybreaker's clock is frozen: the breaker half-opens when the test moves it, however slow the machine
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe, breaker_fail_max=2)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    fake_stripe.inject("status", path="/v1/payment_intents", status=429, times=2)
    for _ in range(2):
        assert _pay(secret_client, _card(SUCCESS)).status_code == 503  # rate limited: not processed
    # open: the payment is refused fast, the processor is not called, until the reset timeout has passed
    calls = len(fake_stripe.log)
    for advance in (0, BREAKER_RESET_TIMEOUT - 1):
        breaker_clock.advance(advance)
        blocked = _pay(secret_client, _card(SUCCESS))
        assert blocked.status_code == 503 and blocked.json()["error"]["code"] == "processor_unavailable"
        assert len(fake_stripe.log) == calls
        assert _attempts(_payment_id(blocked))[0].error_code == "circuit_open"
    breaker_clock.advance(1)
    assert _pay(secret_client, _card(SUCCESS)).json()["status"] == "succeeded"  # the trial call
    assert list(BreakerEvent.objects.filter(breaker=account.id).values_list("new_state", flat=True).order_by("id")) == [
        "open",
        "half-open",
        "closed",
    ]
    assert fake_stripe.total_received() == 2000
    assert ledger_check() == []


# --- incoming processor webhooks ------------------------------------------------------------------


def test_paypal_capture_completing_later_is_applied_from_the_webhook(
    secret_client, api_client, routed, fake_paypal, django_capture_on_commit_callbacks
):
    body = _pay(secret_client, {"type": "paypal"}, amount=1500).json()
    order_id = body["next_action"]["redirect_to_url"]["url"].rsplit("=", 1)[-1]
    fake_paypal.approve(order_id, funding="capture_pending")
    api_client.get(f"/v1/payments/{body['id']}/return")
    assert Payment.objects.get(pk=body["id"]).status == "processing"
    # PayPal completes the capture and notifies us
    [capture] = fake_paypal.captures.values()
    capture["status"] = "COMPLETED"
    raw, headers = fake_paypal.webhook(fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", capture))
    extra = {f"HTTP_{k.replace('-', '_')}": v for k, v in headers.items()}
    url = f"/v1/webhooks/processors/{routed['paypal'].id}"
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(url, data=raw, content_type="application/json", **extra).status_code == 200
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 1500)
    assert ProcessorWebhookEvent.objects.get().applied_at is not None
    # a redelivery is acknowledged and changes nothing
    again = api_client.post(url, data=raw, content_type="application/json", **extra)
    assert again.json()["duplicate"] is True and ProcessorWebhookEvent.objects.count() == 1
    assert ledger_check() == []


def test_stripe_refund_failing_later_is_applied_from_the_webhook(
    secret_client, api_client, routed, fake_stripe, django_capture_on_commit_callbacks
):
    payment_id = _pay(secret_client, _card(SUCCESS), amount=1000).json()["id"]
    fake_stripe.refund_status = "pending"
    refund_body = secret_client.post("/v1/refunds", {"payment": payment_id, "amount": 400}, format="json").json()
    assert refund_body["status"] == "pending"
    refund = Refund.objects.get(pk=refund_body["id"])
    stripe_refund = fake_stripe.refunds[refund.processor_reference]
    stripe_refund.update(status="failed", failure_reason="expired_or_canceled_card")
    raw = json.dumps(fake_stripe.event("refund.updated", stripe_refund)).encode()
    signature = stripe_signature_header(payload=raw, secret=fake_stripe.webhook_secret)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"/v1/webhooks/processors/{routed['stripe'].id}",
            data=raw,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == "failed"
    assert Payment.objects.get(pk=payment_id).amount_refunded == 0
    assert ledger_check() == []


def test_webhook_with_bad_signature_applies_nothing(api_client, secret_client, routed, fake_stripe):
    payment_id = _pay(secret_client, _card(SUCCESS), amount=1000, capture_method="manual").json()["id"]
    intent = dict(fake_stripe.intents[Payment.objects.get(pk=payment_id).processor_reference])
    intent.update(status="canceled")
    raw = json.dumps(fake_stripe.event("payment_intent.canceled", intent)).encode()
    response = api_client.post(
        f"/v1/webhooks/processors/{routed['stripe'].id}",
        data=raw,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature_header(payload=raw, secret="whsec_forged"),
    )
    assert response.status_code == 400
    assert Payment.objects.get(pk=payment_id).status == "requires_capture"
    assert ProcessorWebhookEvent.objects.count() == 0


# --- refund status by the PaymentIntent's refunds ---------------------------------------------------


def test_refund_whose_reply_was_lost_is_found_among_its_payment_intents_refunds(
    secret_client, routed, fake_stripe, monkeypatch
):
    # Given the account holds more refunds (of another payment) than one page of its refund list
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_PAGE_SIZE", 2)
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_MAX_PAGES", 1)
    payment_id = _payment_id(_pay(secret_client, _card(SUCCESS), amount=1000))
    fake_stripe.inject("reply_lost", path="/v1/refunds")
    refund_body = secret_client.post("/v1/refunds", {"payment": payment_id, "amount": 300}, format="json").json()
    assert refund_body["status"] == "pending"
    other = _payment_id(_pay(secret_client, _card(SUCCESS), amount=1000))
    for _ in range(3):
        assert secret_client.post("/v1/refunds", {"payment": other, "amount": 10}, format="json").status_code == 201

    # When the status sync asks Stripe about the refund whose reply was lost
    clock_advance_to_due()  # the first status query is due
    payment = payment_sync(payment_id=payment_id)

    # Then it is found (filtered by its PaymentIntent) and booked once, never marked failed
    refund = Refund.objects.get(pk=refund_body["id"])
    assert refund.status == "succeeded" and payment.amount_refunded == 300
    intent = Payment.objects.get(pk=payment_id).processor_reference
    assert [r["amount"] for r in fake_stripe.refunds.values() if r["payment_intent"] == intent] == [300]
    assert ledger_check() == []


def test_refund_lookup_that_cannot_be_exhaustive_stays_pending_never_failed(
    secret_client, routed, fake_stripe, monkeypatch
):
    # Given a refund whose reply was lost, on a PaymentIntent with more refunds than the lookup reads
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_PAGE_SIZE", 1)
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_MAX_PAGES", 1)
    payment_id = _payment_id(_pay(secret_client, _card(SUCCESS), amount=1000))
    fake_stripe.inject("reply_lost", path="/v1/refunds")
    lost = secret_client.post("/v1/refunds", {"payment": payment_id, "amount": 300}, format="json").json()
    assert secret_client.post("/v1/refunds", {"payment": payment_id, "amount": 10}, format="json").status_code == 201

    # When the status sync cannot see it on the pages it reads
    clock_advance_to_due()  # the first status query is due
    payment_sync(payment_id=payment_id)

    # Then the refund is still pending (asked again later), not failed: the merchant won't refund twice
    refund = Refund.objects.get(pk=lost["id"])
    assert (refund.status, refund.processor_state) == ("pending", "unknown")
    assert fake_stripe.total_refunded() == 310
    assert Payment.objects.get(pk=payment_id).amount_refunded == 10
    assert ledger_check() == []


# --- test and live mode -------------------------------------------------------------------------------


@pytest.fixture
def live_client(merchant_keys):
    from rest_framework.test import APIClient

    from merchants.models import Merchant
    from merchants.services import api_key_create

    raw = api_key_create(merchant=Merchant.objects.get(id=merchant_keys.merchant_id), kind="secret", livemode=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw.raw_key}")
    return client


def test_live_payment_goes_only_to_a_live_account(live_client, secret_client, merchant_keys, fake_stripe):
    # Given a test Stripe account and a live one, both routed for cards
    test_account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    live_account = stripe_account_for(merchant_keys.merchant_id, fake_stripe, livemode=True)
    processor_route_set(
        merchant_id=merchant_keys.merchant_id,
        payment_method_type="card",
        account_ids=[live_account.id, test_account.id],
    )

    # When a live key and a test key each pay
    live = _pay(live_client, _card(SUCCESS), amount=500)
    test = _pay(secret_client, _card(SUCCESS), amount=600)

    # Then each went to the account of its own mode
    assert live.status_code == test.status_code == 201
    live_row, test_row = Payment.objects.get(pk=live.json()["id"]), Payment.objects.get(pk=test.json()["id"])
    assert (live_row.livemode, live_row.processor_account_id) == (True, live_account.id)
    assert (test_row.livemode, test_row.processor_account_id) == (False, test_account.id)
    assert fake_stripe.total_received() == 1100
    assert ledger_check() == []


def test_live_payment_without_a_live_route_is_503_and_writes_nothing(live_client, merchant_keys, fake_stripe):
    # Given only a test account routed (and the sandbox, which is for test mode only)
    test_account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    processor_route_set(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[test_account.id]
    )

    # When a live key pays, and pays with PayPal (no route at all)
    card_response = _pay(live_client, _card(SUCCESS))
    paypal_response = _pay(live_client, {"type": "paypal"})

    # Then both are 503 processor_unavailable, and nothing was written or charged
    for response in (card_response, paypal_response):
        assert response.status_code == 503 and response.json()["error"]["code"] == "processor_unavailable"
    assert not Payment.objects.filter(merchant_id=merchant_keys.merchant_id).exists()
    assert not PaymentAttempt.objects.filter(merchant_id=merchant_keys.merchant_id).exists()
    assert fake_stripe.intents == {}
    assert ledger_check() == []


def test_live_payment_pays_its_live_order(live_client, merchant_keys, fake_stripe):
    from merchants.models import Merchant
    from orders.services import order_create
    from tests.customers.factories import CustomerFactory

    # Given a live Stripe route and a live order (looked up in the payment's mode)
    live_account = stripe_account_for(merchant_keys.merchant_id, fake_stripe, livemode=True)
    processor_route_set(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[live_account.id]
    )
    merchant = Merchant.objects.get(id=merchant_keys.merchant_id)
    order = order_create(
        merchant_id=merchant.id,
        customer_id=CustomerFactory(merchant=merchant, livemode=True).id,
        currency="USD",
        livemode=True,
        lines=[{"sku": "a", "name": "A", "quantity": 1, "unit_amount": 1500}],
    )

    # When the live key pays it
    response = live_client.post(
        "/v1/payments", {"order": order.id, "payment_method": _card(SUCCESS), "confirm": True}, format="json"
    )

    # Then the order is paid through the live account
    assert response.status_code == 201, response.content
    order.refresh_from_db()
    assert (order.status, order.amount_paid) == ("paid", 1500)
    payment = Payment.objects.get(pk=response.json()["id"])
    assert (payment.livemode, payment.processor_account_id) == (True, live_account.id)
    assert fake_stripe.total_received() == 1500
    assert ledger_check() == []
