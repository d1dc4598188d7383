"""The Stripe connector against the fake Stripe server (wire format, mapping, faults)."""

import json
import time

import pytest
import requests

from processors.base import Outcome, WebhookVerificationError
from processors.selectors import connector_for_account
from processors.stripe import StripeConnector, form_encode, stripe_signature_header
from tests.conftest import REQUEST_TIMEOUT_SECONDS
from tests.fakes.stripe import form_decode

from .conftest import short_read_timeout, stripe_account_for
from .factories import card_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe(stripe_account, merchant_keys):
    return connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=stripe_account.id)


def _raw_post(fake_stripe, path: str, body: str) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {fake_stripe.secret_key}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(f"{fake_stripe.base_url}{path}", data=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)


def test_form_encoding_nests_like_stripe():
    pairs = form_encode({"a": {"b": {"c": 1}}, "l": ["card"], "t": True, "n": None})
    assert pairs == [("a[b][c]", "1"), ("l[0]", "card"), ("t", "true")]


def test_success_sends_stripe_wire_format(stripe, fake_stripe):
    # given a card payment with automatic capture (the default card mode: raw card data)
    request = card_request(amount=2000)
    # when it is authorized
    result = stripe.authorize(request)
    # then the card became a PaymentMethod, and the PaymentIntent names it, as Stripe's API defines it
    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount_captured == 2000 and result.raw_status == "succeeded"
    assert result.processor_reference.startswith("pi_")
    assert result.latency_ms is not None
    [method_call] = fake_stripe.requests_to("/v1/payment_methods", "POST")
    [call] = fake_stripe.requests_to("/v1/payment_intents", "POST")
    method_params = form_decode(method_call.body)
    assert method_params["type"] == "card"
    assert method_params["card"] == {"number": "4242424242424242", "exp_month": "12", "exp_year": "2040", "cvc": "123"}
    [payment_method] = fake_stripe.payment_methods.values()
    params = form_decode(call.body)
    assert params["payment_method"] == payment_method["id"] and "payment_method_data" not in params
    assert b"4242424242424242" not in call.body and b"cvc" not in call.body  # the card went only to the PaymentMethod
    # each POST form-encoded, version pinned, with its own idempotency key derived from our reference
    assert call.headers["idempotency-key"] == request.reference
    assert method_call.headers["idempotency-key"] == f"{request.reference}:payment_method"
    for sent in (method_call, call):
        assert sent.headers["stripe-version"] == "2024-06-20"
        assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert params["confirm"] == "true" and params["capture_method"] == "automatic"
    assert params["currency"] == "usd"
    assert params["metadata"]["gateway_reference"] == request.reference
    [intent] = fake_stripe.intents_for(request.reference)
    assert intent["amount_received"] == 2000 and intent["payment_method"] == payment_method["id"]


def test_the_retired_payment_method_data_card_request_is_refused_by_stripe(fake_stripe):
    # Given the request the connector used to send: the card inside payment_method_data
    body = (
        "amount=2000&currency=usd&confirm=true&payment_method_data[type]=card"
        "&payment_method_data[card][number]=4242424242424242"
    )
    # When it reaches Stripe (PostPaymentIntents takes no payment_method_data[card] and no type "card")
    reply = _raw_post(fake_stripe, "/v1/payment_intents", body)
    # Then it is refused like any request outside the published API
    assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_request_error"
    assert reply.json()["error"]["param"].startswith("payment_method_data[")
    assert fake_stripe.intents == {}


def test_a_retry_replays_both_the_payment_method_and_the_intent(stripe, fake_stripe):
    request = card_request(amount=1500)
    first = stripe.authorize(request)
    again = stripe.authorize(request)
    assert again.processor_reference == first.processor_reference
    assert len(fake_stripe.payment_methods) == 1 and len(fake_stripe.intents_for(request.reference)) == 1
    assert fake_stripe.total_received() == 1500


@pytest.mark.parametrize("fault", ["drop", "status"])
def test_a_payment_method_call_that_fails_is_failed_and_nothing_is_charged(stripe, fake_stripe, fault):
    # Given the PaymentMethod call fails, even ambiguously (a PaymentMethod moves no money)
    fake_stripe.inject(fault, path="/v1/payment_methods", status=500)
    result = stripe.authorize(card_request())
    # Then the authorization provably did not happen: FAILED (safe to fall back), no PaymentIntent
    assert result.outcome is Outcome.FAILED
    assert fake_stripe.requests_to("/v1/payment_intents") == [] and fake_stripe.intents == {}


def test_a_card_stripe_refuses_at_the_payment_method_is_a_decline(stripe, fake_stripe):
    result = stripe.authorize(card_request("4242424242424241"))  # fails Luhn
    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "incorrect_number")
    assert fake_stripe.intents == {}


def test_posts_without_a_body_still_say_they_are_form_encoded(stripe, fake_stripe):
    # Given an intent waiting for confirmation and an authorization to void
    waiting = _raw_post(
        fake_stripe, "/v1/payment_intents", "amount=1200&currency=usd&payment_method=pm_card_visa"
    ).json()
    held = stripe.authorize(card_request(capture=False))
    # When complete() confirms the first and void() cancels the second: both POSTs have empty bodies
    done = stripe.complete(reference="att_complete", processor_reference=waiting["id"], capture=True)
    voided = stripe.void(reference="att_void", processor_reference=held.processor_reference)
    # Then Stripe took both (it refuses a POST without Content-Type, as its SDKs always send it)
    assert (done.outcome, done.amount_captured) == (Outcome.SUCCEEDED, 1200)
    assert voided.outcome is Outcome.SUCCEEDED
    for path in (
        f"/v1/payment_intents/{waiting['id']}/confirm",
        f"/v1/payment_intents/{held.processor_reference}/cancel",
    ):
        [call] = fake_stripe.requests_to(path, "POST")
        assert call.body == b"" and call.headers["content-type"] == "application/x-www-form-urlencoded"


def test_a_refusal_embedding_the_intent_is_read_by_the_intents_state(stripe, fake_stripe):
    # Given a manual-capture intent captured once (by an earlier attempt whose reply we lost)
    held = stripe.authorize(card_request(amount=3000, capture=False))
    stripe.capture(reference="cap_lost", processor_reference=held.processor_reference, amount=3000, currency="USD")
    # When another capture and a cancel meet Stripe's 400 payment_intent_unexpected_state
    captured = stripe.capture(
        reference="cap_again", processor_reference=held.processor_reference, amount=3000, currency="USD"
    )
    voided = stripe.void(reference="void_late", processor_reference=held.processor_reference)
    # Then the embedded PaymentIntent decides: it is captured (not a decline), and so not voided
    assert (captured.outcome, captured.amount_captured) == (Outcome.SUCCEEDED, 3000)
    assert (voided.outcome, voided.raw_status) == (Outcome.DECLINED, "succeeded")
    assert voided.error_code == "payment_intent_unexpected_state"
    assert fake_stripe.intents[held.processor_reference]["status"] == "succeeded"


def test_use_stripe_sdk_is_refused_clearly_and_the_intent_abandoned(stripe, fake_stripe):
    # Given Stripe answers 3-D Secure with next_action use_stripe_sdk (documented as only for Stripe.js)
    fake_stripe.three_ds_next_action = "use_stripe_sdk"
    result = stripe.authorize(card_request("4000002500003155"))
    # Then there is no way for the customer to act: a decline naming why, never requires_action without a URL
    assert result.outcome is Outcome.DECLINED and result.redirect_url is None
    assert result.error_code == "authentication_unsupported"
    [intent] = fake_stripe.intents.values()
    assert (intent["status"], intent["cancellation_reason"]) == ("canceled", "abandoned")  # nobody can finish it
    assert fake_stripe.total_received() == 0


def test_manual_capture_authorizes_then_captures_part(stripe, fake_stripe):
    request = card_request(amount=5000, capture=False)
    auth = stripe.authorize(request)
    assert (auth.outcome, auth.raw_status, auth.amount_authorized) == (Outcome.SUCCEEDED, "requires_capture", 5000)
    captured = stripe.capture(
        reference="cap_1", processor_reference=auth.processor_reference, amount=3000, currency="USD"
    )
    assert captured.outcome is Outcome.SUCCEEDED and captured.amount_captured == 3000
    assert fake_stripe.intents[auth.processor_reference]["amount_received"] == 3000
    assert (
        fake_stripe.requests_to(f"/v1/payment_intents/{auth.processor_reference}/capture")[0].headers["idempotency-key"]
        == "cap_1"
    )


@pytest.mark.parametrize(
    ("number", "error_code", "decline_code"),
    [
        ("4000000000000002", "card_declined", "generic_decline"),
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", "expired_card"),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
        ("4000000000000119", "processing_error", "processing_error"),
    ],
)
def test_declines_map_to_declined_with_codes(stripe, fake_stripe, number, error_code, decline_code):
    result = stripe.authorize(card_request(number))
    assert result.outcome is Outcome.DECLINED
    assert (result.error_code, result.decline_code) == (error_code, decline_code)
    assert result.processor_reference.startswith("pi_")
    assert fake_stripe.total_received() == 0


def test_invalid_request_is_a_decline_not_a_failure(stripe):
    result = stripe.authorize(card_request(amount=0))
    assert result.outcome is Outcome.DECLINED and result.error_code == "amount_too_small"


def test_three_d_secure_requires_action_then_completes(stripe, fake_stripe):
    # given a 3-D Secure card
    result = stripe.authorize(card_request("4000002500003155", amount=1500))
    # then the customer must visit Stripe's redirect URL
    assert result.outcome is Outcome.REQUIRES_ACTION
    assert result.redirect_url == f"{fake_stripe.base_url}/3ds/{result.processor_reference}"
    # when the customer is not back yet, complete() still says requires_action
    pending = stripe.complete(reference="att_c", processor_reference=result.processor_reference, capture=True)
    assert pending.outcome is Outcome.REQUIRES_ACTION
    # when the customer passes the challenge
    fake_stripe.complete_3ds(result.processor_reference, success=True)
    done = stripe.complete(reference="att_c", processor_reference=result.processor_reference, capture=True)
    assert done.outcome is Outcome.SUCCEEDED and done.amount_captured == 1500


def test_three_d_secure_failure_is_a_decline(stripe, fake_stripe):
    result = stripe.authorize(card_request("4000002500003155"))
    fake_stripe.complete_3ds(result.processor_reference, success=False)
    done = stripe.complete(reference="x", processor_reference=result.processor_reference, capture=True)
    assert done.outcome is Outcome.DECLINED
    assert done.decline_code == "payment_intent_authentication_failure"


def test_void_cancels_the_authorization(stripe, fake_stripe):
    auth = stripe.authorize(card_request(capture=False))
    voided = stripe.void(reference="void_1", processor_reference=auth.processor_reference)
    assert voided.outcome is Outcome.SUCCEEDED and voided.raw_status == "canceled"
    assert fake_stripe.intents[auth.processor_reference]["status"] == "canceled"


def test_refunds_partial_then_over_refund_declined(stripe, fake_stripe):
    paid = stripe.authorize(card_request(amount=1000))
    first = stripe.refund(reference="re_a", processor_reference=paid.processor_reference, amount=400, currency="USD")
    assert first.outcome is Outcome.SUCCEEDED and first.amount_refunded == 400
    too_much = stripe.refund(reference="re_b", processor_reference=paid.processor_reference, amount=700, currency="USD")
    assert too_much.outcome is Outcome.DECLINED and too_much.error_code == "amount_too_large"
    assert fake_stripe.total_refunded() == 400
    # the same refund reference again replays, never refunds twice
    again = stripe.refund(reference="re_a", processor_reference=paid.processor_reference, amount=400, currency="USD")
    assert again.processor_reference == first.processor_reference
    assert fake_stripe.total_refunded() == 400
    # refund status by id and by our reference among the PaymentIntent's refunds
    pi = paid.processor_reference
    by_id = stripe.refund_status(reference="re_a", processor_refund_reference=first.processor_reference)
    by_ref = stripe.refund_status(reference="re_a", processor_refund_reference=None, processor_reference=pi)
    assert by_id.processor_reference == by_ref.processor_reference == first.processor_reference
    missing = stripe.refund_status(reference="re_zzz", processor_refund_reference=None, processor_reference=pi)
    assert (missing.outcome, missing.error_code) == (Outcome.FAILED, "not_found")


def test_refund_status_searches_only_the_payment_intents_refunds(stripe, fake_stripe, monkeypatch):
    # Given a refund of ours on one PaymentIntent, then more refunds on another PaymentIntent than
    # one page of the account-wide list holds (newest first, so ours is not on the first page)
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_PAGE_SIZE", 2)
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_MAX_PAGES", 1)
    ours = stripe.authorize(card_request(amount=1000))
    mine = stripe.refund(reference="re_mine", processor_reference=ours.processor_reference, amount=100, currency="USD")
    other = stripe.authorize(card_request(amount=1000))
    for n in range(3):
        stripe.refund(
            reference=f"re_other_{n}", processor_reference=other.processor_reference, amount=10, currency="USD"
        )

    # When asked by our reference with the PaymentIntent id
    found = stripe.refund_status(
        reference="re_mine", processor_refund_reference=None, processor_reference=ours.processor_reference
    )

    # Then the filtered list finds it at once
    assert found.outcome is Outcome.SUCCEEDED and found.processor_reference == mine.processor_reference
    assert fake_stripe.refunds[mine.processor_reference]["status"] == "succeeded"


def test_refund_status_that_cannot_search_exhaustively_is_unknown_never_not_found(stripe, fake_stripe, monkeypatch):
    # Given more refunds on the PaymentIntent than the connector's page limit reaches
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_PAGE_SIZE", 2)
    monkeypatch.setattr("processors.stripe.connector._REFUND_LIST_MAX_PAGES", 1)
    paid = stripe.authorize(card_request(amount=1000))
    for n in range(3):
        stripe.refund(reference=f"re_{n}", processor_reference=paid.processor_reference, amount=10, currency="USD")

    # When a reference is looked up that is not on the pages read, or without the PaymentIntent id
    cut_short = stripe.refund_status(
        reference="re_absent", processor_refund_reference=None, processor_reference=paid.processor_reference
    )
    unfiltered = stripe.refund_status(reference="re_0", processor_refund_reference=None)

    # Then neither is a "not found": the refund may exist, so the answer is inconclusive
    assert (cut_short.outcome, cut_short.error_code) == (Outcome.UNKNOWN, "refund_lookup_inconclusive")
    assert (unfiltered.outcome, unfiltered.error_code) == (Outcome.UNKNOWN, "refund_lookup_inconclusive")
    assert len(fake_stripe.refunds) == 3  # the lookups moved nothing


def test_pending_refund(stripe, fake_stripe):
    paid = stripe.authorize(card_request(amount=1000))
    fake_stripe.refund_status = "pending"
    result = stripe.refund(reference="re_p", processor_reference=paid.processor_reference, amount=100, currency="USD")
    assert result.outcome is Outcome.PENDING


def test_status_by_id_and_by_reference(stripe):
    request = card_request(amount=700)
    paid = stripe.authorize(request)
    by_id = stripe.status(reference=request.reference, processor_reference=paid.processor_reference)
    by_ref = stripe.status(reference=request.reference, processor_reference=None)
    assert by_id.outcome is by_ref.outcome is Outcome.SUCCEEDED
    assert by_ref.processor_reference == paid.processor_reference and by_ref.amount_captured == 700
    nothing = stripe.status(reference="att_never_sent", processor_reference=None)
    assert (nothing.outcome, nothing.error_code) == (Outcome.FAILED, "not_found")


# --- faults --------------------------------------------------------------------------------------


def test_connection_refused_is_failed(merchant_keys, fake_stripe):
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe, base_url=fake_stripe.refusing_url())
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)
    result = connector.authorize(card_request())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "connection_error")


def test_bad_credentials_fail_without_charging(merchant_keys, fake_stripe):
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    fake_stripe.secret_key = "sk_test_rotated"  # our stored key is no longer valid
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)
    result = connector.authorize(card_request())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "processor_authentication_failed")
    assert fake_stripe.intents == {}


def test_rate_limited_is_failed(stripe, fake_stripe):
    fake_stripe.inject("status", path="/v1/payment_intents", status=429)
    result = stripe.authorize(card_request())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "rate_limited")
    assert fake_stripe.intents == {}


def test_server_error_is_unknown_and_status_sync_resolves_it(stripe, fake_stripe):
    # given Stripe answers 500 without processing
    fake_stripe.inject("status", path="/v1/payment_intents", status=500)
    request = card_request()
    result = stripe.authorize(request)
    # then the outcome is unknown, never a decline
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "processor_error")
    # and asking Stripe by our reference shows nothing was charged
    synced = stripe.status(reference=request.reference, processor_reference=None)
    assert (synced.outcome, synced.error_code) == (Outcome.FAILED, "not_found")
    assert fake_stripe.intents_for(request.reference) == []


def test_read_timeout_is_unknown_charge_made_once(stripe, stripe_account, merchant_keys, fake_stripe):
    # given Stripe answers only after our read timeout (the charge is made, the reply comes late)
    fake_stripe.inject("hold", path="/v1/payment_intents")
    request = card_request(amount=1234)
    with short_read_timeout(stripe_account, path="/v1/payment_intents"):
        result = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=stripe_account.id).authorize(
            request
        )
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "timeout")
    fake_stripe.release()  # the slow request completes at Stripe
    # when status sync asks by our reference
    synced = stripe.status(reference=request.reference, processor_reference=None)
    assert synced.outcome is Outcome.SUCCEEDED and synced.amount_captured == 1234
    # and a retry with the same reference replays, never charges again
    retried = stripe.authorize(request)
    assert retried.processor_reference == synced.processor_reference
    assert len(fake_stripe.intents_for(request.reference)) == 1
    assert fake_stripe.total_received() == 1234


def test_dropped_connection_is_unknown_nothing_charged(stripe, fake_stripe):
    fake_stripe.inject("drop", path="/v1/payment_intents")
    request = card_request()
    result = stripe.authorize(request)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "connection_lost")
    assert stripe.status(reference=request.reference, processor_reference=None).error_code == "not_found"
    assert fake_stripe.intents_for(request.reference) == []


def test_reply_lost_after_charge_is_unknown_and_found_by_status(stripe, fake_stripe):
    fake_stripe.inject("reply_lost", path="/v1/payment_intents")
    request = card_request(amount=999)
    result = stripe.authorize(request)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "connection_lost")
    synced = stripe.status(reference=request.reference, processor_reference=None)
    assert synced.outcome is Outcome.SUCCEEDED and synced.amount_captured == 999
    retried = stripe.authorize(request)  # same reference: Stripe replays the stored response
    assert retried.outcome is Outcome.SUCCEEDED
    assert fake_stripe.requests_to("/v1/payment_intents", "POST")[-1].headers["idempotency-key"] == request.reference
    assert len(fake_stripe.intents_for(request.reference)) == 1


# --- webhooks ------------------------------------------------------------------------------------


def _signed(fake_stripe, event, *, secret=None, timestamp=None):
    body = json.dumps(event).encode()
    header = stripe_signature_header(payload=body, secret=secret or fake_stripe.webhook_secret, timestamp=timestamp)
    return body, {"Stripe-Signature": header}


def test_webhook_signature_verified_and_mapped(stripe, fake_stripe):
    paid = stripe.authorize(card_request(amount=500))
    event = fake_stripe.event("payment_intent.succeeded", fake_stripe.intents[paid.processor_reference])
    body, headers = _signed(fake_stripe, event)
    parsed = stripe.parse_webhook(headers=headers, body=body)
    assert parsed.processor_event_id == event["id"]
    assert parsed.processor_reference == paid.processor_reference
    assert parsed.result.outcome is Outcome.SUCCEEDED


def test_webhook_refund_event_carries_refund_reference(stripe, fake_stripe):
    paid = stripe.authorize(card_request(amount=500))
    refund = stripe.refund(reference="re_w", processor_reference=paid.processor_reference, amount=500, currency="USD")
    event = fake_stripe.event("refund.updated", fake_stripe.refunds[refund.processor_reference])
    body, headers = _signed(fake_stripe, event)
    parsed = stripe.parse_webhook(headers=headers, body=body)
    assert (parsed.processor_reference, parsed.refund_reference) == (
        paid.processor_reference,
        refund.processor_reference,
    )
    assert parsed.result.amount_refunded == 500


@pytest.mark.parametrize("problem", ["wrong_secret", "tampered", "too_old", "missing"])
def test_webhook_bad_signatures_rejected(stripe, fake_stripe, problem):
    event = fake_stripe.event(
        "payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent", "status": "succeeded"}
    )
    body, headers = _signed(
        fake_stripe,
        event,
        secret="whsec_wrong" if problem == "wrong_secret" else None,
        timestamp=int(time.time()) - 301 if problem == "too_old" else None,
    )
    if problem == "tampered":
        body = body.replace(b"succeeded", b"canceled")
    if problem == "missing":
        headers = {}
    with pytest.raises(WebhookVerificationError):
        stripe.parse_webhook(headers=headers, body=body)


def test_test_token_mode_sends_stripe_test_payment_methods(fake_stripe):
    connector = StripeConnector(
        account_id="acct",
        config={"secret_key": fake_stripe.secret_key, "base_url": fake_stripe.base_url, "card_mode": "test_tokens"},
    )
    result = connector.authorize(card_request("4000000000009995"))
    assert result.decline_code == "insufficient_funds"
    params = form_decode(fake_stripe.requests_to("/v1/payment_intents", "POST")[0].body)
    assert params["payment_method"] == "pm_card_visa_chargeDeclinedInsufficientFunds"
    assert "payment_method_data" not in params
    assert fake_stripe.requests_to("/v1/payment_methods") == []  # no card number leaves in this mode


def test_a_retry_while_the_first_request_runs_meets_409_and_stays_unknown(
    stripe, stripe_account, merchant_keys, fake_stripe
):
    # Given Stripe still processing our PaymentIntent (held past the read timeout)
    request = card_request(amount=2500)
    fake_stripe.inject("hold", path="/v1/payment_intents")
    with short_read_timeout(stripe_account, path="/v1/payment_intents"):
        held = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=stripe_account.id)
        first = held.authorize(request)
    assert (first.outcome, first.error_code) == (Outcome.UNKNOWN, "timeout")
    # When the same reference is retried meanwhile: Stripe's 409 (key in use) is unknown, not a decline
    retried = stripe.authorize(request)
    assert (retried.outcome, retried.error_code) == (Outcome.UNKNOWN, "request_in_progress")
    # Then once the first finished, the retry replays it: one charge
    fake_stripe.release()
    final = stripe.authorize(request)
    assert final.outcome is Outcome.SUCCEEDED
    assert len(fake_stripe.intents_for(request.reference)) == 1 and fake_stripe.total_received() == 2500
