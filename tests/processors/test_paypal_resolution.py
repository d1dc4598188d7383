"""PayPal refunds whose reply was lost or late, resolved through the API, the janitor's sync and
PayPal's webhooks, against the fake PayPal: never failed while PayPal may still refund, never
refunded twice."""

import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests

from payments.models import Payment, Refund
from payments.reconciliation import ledger_check
from payments.services import payment_sync
from processors.services import processor_route_set
from tests.conftest import REQUEST_TIMEOUT_SECONDS
from tests.payments.schedule import clock_advance_to_due

from .conftest import paypal_account_for, short_read_timeout

pytestmark = pytest.mark.django_db


@pytest.fixture
def paypal_routed(merchant_keys, fake_paypal, settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = "http://testserver"
    account = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[account.id])
    return account


def _paid(secret_client, api_client, amount: int, currency: str = "usd") -> Payment:
    body = secret_client.post(
        "/v1/payments",
        {"amount": amount, "currency": currency, "payment_method": {"type": "paypal"}, "confirm": True},
        format="json",
    ).json()
    assert body["status"] == "requires_action", body
    page = requests.get(
        body["next_action"]["redirect_to_url"]["url"], allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS
    )
    location = urlsplit(page.headers["Location"])
    api_client.get(f"{location.path}?{location.query}")
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "succeeded"
    return payment


def test_refund_retried_after_a_timeout_through_a_409_ends_with_one_refund(
    secret_client, api_client, paypal_routed, fake_paypal
):
    # Given a paid PayPal payment and PayPal slow to answer its refund (held past our read timeout)
    payment = _paid(secret_client, api_client, 1000)
    fake_paypal.inject("hold", path="/v2/payments/captures/")
    with short_read_timeout(paypal_routed, path="/v2/payments/captures/"):
        pending = secret_client.post("/v1/refunds", {"payment": payment.id, "amount": 400}, format="json").json()
    assert pending["status"] == "pending"

    # When the status sync asks while PayPal is still processing: the order lists no refund, so the
    # refund is repeated under the same PayPal-Request-Id, and PayPal answers 409 in progress
    clock_advance_to_due()  # the first status query is due
    payment_sync(payment_id=payment.id)

    # Then the refund stays pending (a 409 is not a refusal: the first call may still refund)
    refund = Refund.objects.get(pk=pending["id"])
    assert (refund.status, refund.processor_state) == ("pending", "unknown")
    assert fake_paypal.requests_to("/v2/payments/captures/", "POST")[-1].headers["paypal-request-id"] == refund.id

    # When PayPal finishes the first call and the sync asks again
    fake_paypal.release()
    clock_advance_to_due()  # the first status query is due
    payment_sync(payment_id=payment.id)

    # Then the refund is booked once, as PayPal made it once
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.processor_reference in fake_paypal.refunds
    assert Payment.objects.get(pk=payment.id).amount_refunded == 400
    assert len(fake_paypal.refunds) == 1 and fake_paypal.total_refunded() == Decimal("4.00")
    assert ledger_check() == []


def test_refund_whose_reply_was_lost_is_found_by_paypals_refund_webhook(
    secret_client, api_client, paypal_routed, fake_paypal, django_capture_on_commit_callbacks
):
    # Given a refund PayPal made but whose reply we lost (so we have no PayPal refund id)
    payment = _paid(secret_client, api_client, 1500)
    fake_paypal.inject("reply_lost", path="/v2/payments/captures/")
    pending = secret_client.post("/v1/refunds", {"payment": payment.id, "amount": 500}, format="json").json()
    assert pending["status"] == "pending" and Refund.objects.get(pk=pending["id"]).processor_reference == ""
    [paypal_refund] = fake_paypal.refunds.values()

    # When PayPal notifies PAYMENT.CAPTURE.REFUNDED (the refund, with our id as its custom_id)
    body, headers = fake_paypal.webhook(fake_paypal.event("PAYMENT.CAPTURE.REFUNDED", paypal_refund))
    extra = {f"HTTP_{name.replace('-', '_')}": value for name, value in headers.items()}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"/v1/webhooks/processors/{paypal_routed.id}", data=body, content_type="application/json", **extra
        )

    # Then the event found our refund and its resolution booked it, once
    assert response.status_code == 200, response.content
    refund = Refund.objects.get(pk=pending["id"])
    assert (refund.status, refund.processor_reference) == ("succeeded", paypal_refund["id"])
    assert Payment.objects.get(pk=payment.id).amount_refunded == 500
    assert len(fake_paypal.refunds) == 1
    assert json.loads(body)["resource"]["custom_id"] == refund.id
    assert ledger_check() == []
