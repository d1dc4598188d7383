"""Regressions from review 3 against the fake Stripe: a 3-D Secure payment whose complete() hit a
429 keeps being polled, a lagging search never fails a charge on demand, and a webhook finds an
attempt whose reply was lost by our own id."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import AttemptStatus, Payment, PaymentAttempt
from payments.reconciliation import ledger_check
from payments.selectors import payments_requires_action_due
from payments.services import janitor
from payments.tasks import payments_sync_due
from processors.services import processor_route_set
from processors.stripe import stripe_signature_header
from tests.payments.schedule import clock_advance_to_due

from .conftest import stripe_account_for

pytestmark = pytest.mark.django_db

CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
THREE_DS_CARD = {
    "type": "card",
    "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
}


@pytest.fixture
def stripe_routed(merchant_keys, fake_stripe, settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = "http://testserver"
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    return account


def _pay(client, method, amount):
    body = {"amount": amount, "currency": "usd", "confirm": True, "payment_method": method}
    return client.post("/v1/payments", body, format="json")


def test_3ds_captured_at_stripe_whose_complete_hit_a_429_is_polled_again(
    secret_client, stripe_routed, fake_stripe, settings, monkeypatch
):
    # given: the customer passed 3-D Secure at Stripe (money captured) and never came back
    settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = 0
    body = _pay(secret_client, THREE_DS_CARD, 3100).json()
    assert body["status"] == "requires_action", body
    pid = body["id"]
    fake_stripe.complete_3ds(Payment.objects.get(pk=pid).processor_reference)
    assert fake_stripe.total_received() == 3100

    # when: the poll's status read sees it succeeded, but complete()'s read is refused (429)
    real_complete = services.payment_complete

    def complete_hitting_a_429(**kwargs):
        fake_stripe.inject("status", method="GET", path="/v1/payment_intents", status=429)
        return real_complete(**kwargs)

    # (the janitor's poll calls payment_complete through its own module's name)
    monkeypatch.setattr(janitor, "payment_complete", complete_hitting_a_429)
    payments_sync_due()
    monkeypatch.setattr(janitor, "payment_complete", real_complete)

    # then: still requires_action, but its poll is scheduled, never dropped
    payment = Payment.objects.get(pk=pid)
    assert (payment.status, payment.amount_received) == ("requires_action", 0)
    assert payments_requires_action_due(now=timezone.now() + timedelta(days=3650)) == [pid]

    # when: the janitor polls again
    payments_sync_due()

    # then: booked once, exactly what Stripe captured
    payment.refresh_from_db()
    assert (payment.status, payment.amount_received) == ("succeeded", 3100)
    assert fake_stripe.total_received() == 3100 and len(fake_stripe.intents) == 1
    assert ledger_check() == []


def test_lagging_search_not_found_is_not_trusted_on_demand(secret_client, stripe_routed, fake_stripe, settings):
    # given: a charge whose reply was lost (no PaymentIntent id), old enough, and a lagging search
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    fake_stripe.inject("reply_lost", path="/v1/payment_intents")
    pid = _pay(secret_client, CARD, 900).json()["id"]
    (attempt,) = PaymentAttempt.objects.filter(payment_id=pid)
    assert (attempt.status, attempt.processor_reference) == (AttemptStatus.UNKNOWN, "")
    fake_stripe.search_lagging = True

    # when: an on-demand sync (a follow-up, the browser's return, a webhook) gets "not found"
    payment = services.payment_sync(payment_id=pid, scheduled=False)

    # then: inconclusive, the charge is not failed (the customer could pay twice otherwise)
    attempt.refresh_from_db()
    assert payment.status == "processing" and attempt.status == AttemptStatus.UNKNOWN

    # when: the search catches up and the janitor's scheduled sync asks
    fake_stripe.search_lagging = False
    clock_advance_to_due()
    payment = services.payment_sync(payment_id=pid)

    # then: found and booked once
    assert (payment.status, payment.amount_received) == ("succeeded", 900)
    assert len(fake_stripe.intents_for(attempt.id)) == 1 and fake_stripe.total_received() == 900
    assert ledger_check() == []


def test_not_found_default_age_covers_stripes_search_lag(settings):
    from gateway_project.settings import app_payments

    # then: a scheduled search-based "not found" is trusted only 5 minutes after the call by default
    assert app_payments.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS >= 300


def test_webhook_finds_the_attempt_whose_reply_was_lost_by_our_reference(
    secret_client, api_client, stripe_routed, fake_stripe, settings, django_capture_on_commit_callbacks
):
    # given: a charge whose reply was lost: we have no PaymentIntent id
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    fake_stripe.inject("reply_lost", path="/v1/payment_intents")
    pid = _pay(secret_client, CARD, 1200).json()["id"]
    (attempt,) = PaymentAttempt.objects.filter(payment_id=pid)
    assert attempt.processor_reference == ""
    (intent,) = fake_stripe.intents_for(attempt.id)

    # when: Stripe's payment_intent.succeeded arrives
    raw = json.dumps(fake_stripe.event("payment_intent.succeeded", intent)).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"/v1/webhooks/processors/{stripe_routed.id}",
            data=raw,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=stripe_signature_header(payload=raw, secret=fake_stripe.webhook_secret),
        )

    # then: matched by metadata.gateway_reference and resolved by asking Stripe
    assert response.status_code == 200
    attempt.refresh_from_db()
    payment = Payment.objects.get(pk=pid)
    assert (payment.status, payment.amount_received) == ("succeeded", 1200)
    assert attempt.processor_reference == intent["id"] and attempt.status == AttemptStatus.SUCCEEDED
    assert fake_stripe.total_received() == 1200 and len(fake_stripe.intents_for(attempt.id)) == 1
    assert ledger_check() == []
