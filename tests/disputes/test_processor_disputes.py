"""Disputes from Stripe and PayPal webhooks: the webhook is a trigger, the dispute is read from the
processor (GET /v1/disputes/{id}, GET /v1/customer/disputes/{id}); the books withdraw once when a
chargeback opens and reinstate once when it is won; the payment shows it."""

import json

import pytest
import requests

from disputes.models import Dispute
from events.models import Event
from payments.models import Payment
from processors.services import processor_route_set
from processors.stripe import stripe_signature_header
from tests.processors.conftest import paypal_account_for, stripe_account_for

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = "http://testserver"
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0


@pytest.fixture
def routed(merchant_keys, fake_stripe, fake_paypal):
    stripe = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    paypal = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[stripe.id])
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[paypal.id])
    return {"stripe": stripe, "paypal": paypal}


def _post_webhook(api_client, account_id, body: bytes, headers: dict):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return api_client.post(f"/v1/webhooks/processors/{account_id}", data=body, content_type="application/json", **extra)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what a request enqueues after its commit (the dispute read), as a worker would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _stripe_webhook(on_commit, api_client, account, fake_stripe, event_type: str, dispute: dict, event_id: str):
    # The body lies about the amount and status: the gateway must act on what Stripe answers.
    forged = {**dispute, "amount": 1, "status": "won"}
    body = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": forged}, "livemode": False}
    ).encode()
    headers = {"Stripe-Signature": stripe_signature_header(payload=body, secret=fake_stripe.webhook_secret)}
    with on_commit():
        return _post_webhook(api_client, account.id, body, headers)


def _card_payment(secret_client, amount=3000) -> Payment:
    response = secret_client.post(
        "/v1/payments",
        {
            "amount": amount,
            "currency": "usd",
            "confirm": True,
            "payment_method": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Payment.objects.get(pk=response.json()["id"])


def _events(type_: str) -> list[Event]:
    return list(Event.objects.filter(type=type_).order_by("id"))


def test_stripe_dispute_opened_then_won_through_webhooks(
    on_commit, api_client, secret_client, routed, fake_stripe, ledger
):
    # Given a payment captured through Stripe, which a cardholder disputes
    payment = _card_payment(secret_client, amount=3000)
    stripe_dispute = fake_stripe.dispute_open(payment.processor_reference, fee=1500)

    # When Stripe sends charge.dispute.created (twice: a redelivery with another event id)
    for event_id in ("evt_d1", "evt_d2"):
        response = _stripe_webhook(
            on_commit, api_client, routed["stripe"], fake_stripe, "charge.dispute.created", stripe_dispute, event_id
        )
        assert response.status_code == 200, response.json()

    # Then one dispute, with Stripe's figures (not the webhook body's), on the payment
    [dispute] = Dispute.objects.all()
    assert (dispute.payment_id, dispute.amount, dispute.currency, dispute.fee) == (payment.id, 3000, "USD", 1500)
    assert (dispute.status, dispute.reason, dispute.processor_reference) == (
        "needs_response",
        "fraudulent",
        stripe_dispute["id"],
    )
    assert dispute.evidence_due_by is not None and dispute.funds_withdrawn_at is not None
    # the books withdrew the amount and the fee once
    assert ledger.withdrawals == [
        {
            "merchant_id": payment.merchant_id,
            "livemode": False,
            "payment_id": payment.id,
            "dispute_id": dispute.id,
            "currency": "USD",
            "amount": 3000,
            "fee": 1500,
        }
    ]
    payment.refresh_from_db()
    assert (payment.disputed, payment.amount_disputed) == (True, 3000)
    shown = secret_client.get(f"/v1/payments/{payment.id}").json()
    assert (shown["disputed"], shown["amount_disputed"], shown["status"]) == (True, 3000, "succeeded")
    assert [e.data["object"]["id"] for e in _events("dispute.created")] == [dispute.id]

    # When Stripe decides it for the merchant and says so
    fake_stripe.dispute_close(stripe_dispute["id"], won=True)
    _stripe_webhook(
        on_commit, api_client, routed["stripe"], fake_stripe, "charge.dispute.closed", stripe_dispute, "evt_d3"
    )

    # Then the dispute is won, the amount reinstated once, and the payment no longer disputed
    dispute.refresh_from_db()
    assert dispute.status == "won" and dispute.closed_at is not None and dispute.funds_reinstated_at is not None
    assert [(r["dispute_id"], r["amount"]) for r in ledger.reinstatements] == [(dispute.id, 3000)]
    assert len(ledger.withdrawals) == 1
    payment.refresh_from_db()
    assert (payment.disputed, payment.amount_disputed) == (False, 0)
    assert [e.data["object"]["status"] for e in _events("dispute.closed")] == ["won"]
    assert [call.path for call in fake_stripe.requests_to(f"/v1/disputes/{stripe_dispute['id']}", "GET")]


def test_a_stripe_inquiry_moves_no_money(on_commit, api_client, secret_client, routed, fake_stripe, ledger):
    payment = _card_payment(secret_client)
    inquiry = fake_stripe.dispute_open(payment.processor_reference, status="warning_needs_response")
    _stripe_webhook(on_commit, api_client, routed["stripe"], fake_stripe, "charge.dispute.created", inquiry, "evt_w1")
    [dispute] = Dispute.objects.all()
    assert dispute.status == "warning_needs_response" and dispute.funds_withdrawn_at is None
    assert ledger.withdrawals == []
    payment.refresh_from_db()
    assert (payment.disputed, payment.amount_disputed) == (True, 0)


def test_paypal_dispute_lost_keeps_the_withdrawal(on_commit, api_client, secret_client, routed, fake_paypal, ledger):
    # Given a PayPal payment the buyer approved and we captured
    body = secret_client.post(
        "/v1/payments",
        {"amount": 1050, "currency": "usd", "confirm": True, "payment_method": {"type": "paypal"}},
        format="json",
    ).json()
    page = requests.get(body["next_action"]["redirect_to_url"]["url"], allow_redirects=False, timeout=30)
    location = page.headers["Location"]
    api_client.get(location[location.index("/", 8) :])
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "succeeded"
    [capture_id] = fake_paypal.captures
    paypal_dispute = fake_paypal.dispute_open(capture_id)

    def notify(event_type: str, event_id: str):
        event = {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "dispute",
            "resource": {"dispute_id": paypal_dispute["dispute_id"], "status": "RESOLVED"},  # the body is not trusted
        }
        with on_commit():
            response = _post_webhook(api_client, routed["paypal"].id, *fake_paypal.webhook(event))
        assert response.status_code == 200, response.json()

    # When PayPal reports the dispute, then resolves it for the buyer
    notify("CUSTOMER.DISPUTE.CREATED", "WH-1")
    [dispute] = Dispute.objects.all()
    assert (dispute.status, dispute.amount, dispute.currency, dispute.payment_id) == (
        "needs_response",
        1050,
        "USD",
        payment.id,
    )
    fake_paypal.dispute_resolve(paypal_dispute["dispute_id"], seller_won=False)
    notify("CUSTOMER.DISPUTE.RESOLVED", "WH-2")

    # Then it is lost: withdrawn once, never reinstated; the payment shows the amount held back
    dispute.refresh_from_db()
    assert dispute.status == "lost" and dispute.processor_status == "RESOLVED/RESOLVED_BUYER_FAVOUR"
    assert [w["amount"] for w in ledger.withdrawals] == [1050] and ledger.reinstatements == []
    payment.refresh_from_db()
    assert (payment.disputed, payment.amount_disputed) == (True, 1050)
    assert [e.type for e in Event.objects.filter(type__startswith="dispute.").order_by("id")] == [
        "dispute.created",
        "dispute.closed",
    ]


def test_a_closed_dispute_reported_open_again_is_refused(secret_client, routed, fake_stripe, ledger):
    from disputes.services import dispute_sync

    payment = _card_payment(secret_client)
    stripe_dispute = fake_stripe.dispute_open(payment.processor_reference)
    fake_stripe.dispute_close(stripe_dispute["id"], won=False)
    args = {
        "merchant_id": payment.merchant_id,
        "processor_account_id": routed["stripe"].id,
        "dispute_reference": stripe_dispute["id"],
    }
    assert dispute_sync(**args).status == "lost"
    stripe_dispute["status"] = "needs_response"  # Stripe would never do this: the state table holds
    assert dispute_sync(**args).status == "lost"
    assert len(ledger.withdrawals) == 1
