"""POST /v1/webhooks/processors/{account}: verify, store once, apply."""

import json

import pytest

from processors.models import ProcessorWebhookEvent
from processors.stripe import stripe_signature_header

from .conftest import stripe_account_for

pytestmark = pytest.mark.django_db


def _stripe_event(fake_stripe, event_id="evt_1"):
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_123",
                "object": "payment_intent",
                "status": "succeeded",
                "amount": 500,
                "amount_received": 500,
            }
        },
    }
    return json.dumps(event).encode()


def _post(api_client, account_id, body, headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return api_client.post(f"/v1/webhooks/processors/{account_id}", data=body, content_type="application/json", **extra)


def test_stripe_event_stored_once_and_duplicates_acknowledged(api_client, stripe_account, fake_stripe):
    body = _stripe_event(fake_stripe)
    headers = {"Stripe-Signature": stripe_signature_header(payload=body, secret=fake_stripe.webhook_secret)}
    first = _post(api_client, stripe_account.id, body, headers)
    again = _post(api_client, stripe_account.id, body, headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    stored = ProcessorWebhookEvent.objects.get()
    assert (stored.account_id, stored.processor_event_id, stored.type, stored.processor_reference) == (
        stripe_account.id,
        "evt_1",
        "payment_intent.succeeded",
        "pi_123",
    )
    assert stored.merchant_id == stripe_account.merchant_id
    assert first.json()["event"] == stored.id


def test_bad_signature_is_400_and_nothing_stored(api_client, stripe_account, fake_stripe):
    body = _stripe_event(fake_stripe)
    headers = {"Stripe-Signature": stripe_signature_header(payload=body, secret="whsec_forged")}
    response = _post(api_client, stripe_account.id, body, headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert ProcessorWebhookEvent.objects.count() == 0


def test_signature_of_another_account_is_rejected(api_client, merchant_keys, other_merchant_keys, fake_stripe):
    mine = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    from processors.services import processor_account_set_credentials

    theirs = stripe_account_for(other_merchant_keys.merchant_id, fake_stripe)
    processor_account_set_credentials(
        account=theirs, credentials={"secret_key": "sk_x", "webhook_secret": "whsec_other"}
    )
    body = _stripe_event(fake_stripe)
    headers = {"Stripe-Signature": stripe_signature_header(payload=body, secret=fake_stripe.webhook_secret)}
    assert _post(api_client, theirs.id, body, headers).status_code == 400
    assert _post(api_client, mine.id, body, headers).status_code == 200


def test_unknown_account_is_404(api_client, db):
    response = _post(api_client, "pra_nope", b"{}", {})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


def test_paypal_event_verified_by_paypal(api_client, paypal_account, fake_paypal):
    event = fake_paypal.event("CHECKOUT.ORDER.APPROVED", {"id": "5O1", "status": "APPROVED", "purchase_units": [{}]})
    body, headers = fake_paypal.webhook(event)
    response = _post(api_client, paypal_account.id, body, headers)
    assert response.status_code == 200, response.json()
    assert ProcessorWebhookEvent.objects.get().processor_reference == "5O1"
    event["id"] = "WH-forged"
    forged_body, forged = fake_paypal.webhook(event, webhook_id="WHOTHER")
    assert _post(api_client, paypal_account.id, forged_body, forged).status_code == 400
    assert ProcessorWebhookEvent.objects.count() == 1


def test_paypal_verification_down_is_503_for_redelivery(api_client, paypal_account, fake_paypal):
    event = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "status": "COMPLETED"})
    fake_paypal.inject("status", path="/v1/notifications/verify-webhook-signature", status=500)
    response = _post(api_client, paypal_account.id, *fake_paypal.webhook(event))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhook_verification_unavailable"
    assert ProcessorWebhookEvent.objects.count() == 0


def test_a_paypal_webhook_id_paypal_would_refuse_is_refused_at_once(merchant_keys, fake_paypal):
    # verify-webhook-signature takes webhook_id ^[a-zA-Z0-9]+$: "WH-1" could never verify a thing
    from gateway.errors import InvalidRequest
    from processors.services import processor_account_create

    with pytest.raises(InvalidRequest) as refused:
        processor_account_create(
            merchant_id=merchant_keys.merchant_id,
            processor="paypal",
            display_name="PayPal",
            credentials={"client_id": "c", "client_secret": "s"},
            webhook_id="WH-1",
        )
    assert refused.value.param == "webhook_id"
