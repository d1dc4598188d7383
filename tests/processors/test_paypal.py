"""The PayPal connector against the fake PayPal server (Orders v2 wire format, token, faults)."""

import json
from decimal import Decimal

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from processors.base import Outcome, WebhookVerificationError, WebhookVerificationUnavailable
from processors.http import Reply
from processors.selectors import connector_for_account

from .conftest import paypal_account_for, short_read_timeout
from .factories import paypal_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def paypal(paypal_account, merchant_keys):
    return connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=paypal_account.id)


def _approved_order(paypal, fake_paypal, *, capture=True, amount=1050, funding="ok"):
    request = paypal_request(amount=amount, capture=capture)
    created = paypal.authorize(request)
    fake_paypal.approve(created.processor_reference, funding=funding)
    return request, created


def test_create_order_requires_buyer_approval(paypal, fake_paypal):
    # given a PayPal payment of 10.50 USD
    request = paypal_request(amount=1050)
    # when the order is created
    result = paypal.authorize(request)
    # then the buyer must visit PayPal's payer-action link
    assert result.outcome is Outcome.REQUIRES_ACTION
    assert result.redirect_url == f"{fake_paypal.base_url}/checkoutnow?token={result.processor_reference}"
    [call] = fake_paypal.requests_to("/v2/checkout/orders", "POST")
    assert call.headers["paypal-request-id"] == request.reference
    body = call.json()
    assert body["intent"] == "CAPTURE"
    assert body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "10.50"}
    assert body["purchase_units"][0]["custom_id"] == request.reference
    assert body["payment_source"]["paypal"]["experience_context"]["return_url"] == request.return_url
    assert fake_paypal.total_captured() == 0  # creating an order moves no money


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [(500, "JPY", "500"), (5, "EUR", "0.05"), (150000, "HUF", "1500"), (10000, "TWD", "100")],
)
def test_amounts_are_exact_decimal_strings_with_paypals_decimals(paypal, fake_paypal, amount, currency, value):
    # HUF and TWD have two decimals in ISO 4217 but none at PayPal: 1500.00 HUF is sent as "1500"
    result = paypal.authorize(paypal_request(amount=amount, currency=currency))
    assert result.outcome is Outcome.REQUIRES_ACTION
    sent = fake_paypal.requests_to("/v2/checkout/orders", "POST")[0].json()
    assert sent["purchase_units"][0]["amount"]["value"] == value


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [(1234, "KWD", "currency_not_supported"), (150050, "HUF", "amount_not_representable")],
)
def test_what_paypal_cannot_take_is_never_sent(paypal, fake_paypal, amount, currency, code):
    # KWD is not a PayPal currency; 1500.50 HUF has decimals PayPal refuses (and is never rounded)
    result = paypal.authorize(paypal_request(amount=amount, currency=currency))
    assert (result.outcome, result.error_code) == (Outcome.FAILED, code)
    assert fake_paypal.requests_to("/v2/checkout/orders") == []


def test_token_is_cached_and_refreshed_after_expiry(paypal, fake_paypal):
    paypal.authorize(paypal_request())
    paypal.authorize(paypal_request())
    assert len(fake_paypal.requests_to("/v1/oauth2/token")) == 1  # cached in Redis
    fake_paypal.expire_tokens()  # PayPal no longer accepts the cached token
    result = paypal.authorize(paypal_request())
    assert result.outcome is Outcome.REQUIRES_ACTION
    assert len(fake_paypal.requests_to("/v1/oauth2/token")) == 2


def test_short_lived_token_is_not_cached_past_its_refresh_margin(paypal, fake_paypal):
    fake_paypal.token_expires_in = 60  # less than the 300 s refresh margin
    paypal.authorize(paypal_request())
    paypal.authorize(paypal_request())
    assert len(fake_paypal.requests_to("/v1/oauth2/token")) == 2


def test_bad_client_credentials_fail(merchant_keys, fake_paypal):
    account = paypal_account_for(merchant_keys.merchant_id, fake_paypal)
    fake_paypal.client_secret = "rotated"
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)
    result = connector.authorize(paypal_request())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "processor_authentication_failed")


def test_approve_link_redirects_buyer_back_then_capture(paypal, fake_paypal):
    request = paypal_request(amount=2599)
    created = paypal.authorize(request)
    # the buyer follows the link and approves; PayPal sends them to our return URL
    page = requests.get(created.redirect_url, allow_redirects=False, timeout=30)
    assert page.status_code == 302
    assert page.headers["Location"].startswith(request.return_url + "?token=" + created.processor_reference)
    # when we complete on return
    done = paypal.complete(
        reference=request.reference + ":complete", processor_reference=created.processor_reference, capture=True
    )
    assert done.outcome is Outcome.SUCCEEDED and done.amount_captured == 2599
    assert fake_paypal.total_captured() == Decimal("25.99")
    call = fake_paypal.requests_to(f"/v2/checkout/orders/{created.processor_reference}/capture")[0]
    assert call.headers["paypal-request-id"] == request.reference + ":complete"


def test_complete_before_approval_is_declined_and_retryable(paypal, fake_paypal):
    created = paypal.authorize(paypal_request())
    result = paypal.complete(reference="c1", processor_reference=created.processor_reference, capture=True)
    assert (result.outcome, result.decline_code) == (Outcome.DECLINED, "order_not_approved")
    assert fake_paypal.total_captured() == 0


def test_completed_order_with_declined_capture_is_a_decline(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, funding="capture_declined")
    result = paypal.complete(reference="c2", processor_reference=created.processor_reference, capture=True)
    assert fake_paypal.orders[created.processor_reference]["status"] == "COMPLETED"
    assert result.outcome is Outcome.DECLINED and result.error_code == "capture_declined"


def test_instrument_declined(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, funding="instrument_declined")
    result = paypal.complete(reference="c3", processor_reference=created.processor_reference, capture=True)
    assert (result.outcome, result.decline_code) == (Outcome.DECLINED, "instrument_declined")


def test_pending_capture(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, funding="capture_pending")
    result = paypal.complete(reference="c4", processor_reference=created.processor_reference, capture=True)
    assert result.outcome is Outcome.PENDING


def test_authorize_then_partial_capture(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, capture=False, amount=5000)
    authorized = paypal.complete(reference="a1", processor_reference=created.processor_reference, capture=False)
    assert (authorized.outcome, authorized.amount_authorized, authorized.amount_captured) == (
        Outcome.SUCCEEDED,
        5000,
        0,
    )
    captured = paypal.capture(
        reference="cap1", processor_reference=created.processor_reference, amount=3000, currency="USD"
    )
    assert captured.outcome is Outcome.SUCCEEDED and captured.amount_captured == 3000
    assert fake_paypal.total_captured() == Decimal("30.00")
    again = paypal.capture(
        reference="cap1", processor_reference=created.processor_reference, amount=3000, currency="USD"
    )
    assert again.outcome is Outcome.SUCCEEDED
    assert fake_paypal.total_captured() == Decimal("30.00")  # PayPal-Request-Id replayed


def test_void_authorization(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, capture=False)
    paypal.complete(reference="a2", processor_reference=created.processor_reference, capture=False)
    voided = paypal.void(reference="v1", processor_reference=created.processor_reference)
    assert voided.outcome is Outcome.SUCCEEDED and voided.raw_status == "VOIDED"
    assert next(iter(fake_paypal.authorizations.values()))["status"] == "VOIDED"
    status = paypal.status(reference="a2", processor_reference=created.processor_reference)
    assert (status.outcome, status.error_code) == (Outcome.DECLINED, "canceled")


def test_void_before_approval_touches_nothing(paypal, fake_paypal):
    created = paypal.authorize(paypal_request())
    voided = paypal.void(reference="v2", processor_reference=created.processor_reference)
    assert voided.outcome is Outcome.SUCCEEDED
    assert fake_paypal.requests_to("/v2/payments/authorizations") == []


def test_refunds_partial_then_exceeded(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, amount=1000)
    paypal.complete(reference="c5", processor_reference=created.processor_reference, capture=True)
    first = paypal.refund(reference="r1", processor_reference=created.processor_reference, amount=250, currency="USD")
    assert first.outcome is Outcome.SUCCEEDED and first.amount_refunded == 250
    sent = fake_paypal.requests_to("/v2/payments/captures/")[0]
    assert sent.json()["amount"] == {"currency_code": "USD", "value": "2.50"}
    assert sent.headers["paypal-request-id"] == "r1"
    over = paypal.refund(reference="r2", processor_reference=created.processor_reference, amount=800, currency="USD")
    assert (over.outcome, over.error_code) == (Outcome.DECLINED, "refund_amount_exceeded")
    assert fake_paypal.total_refunded() == Decimal("2.50")
    status = paypal.refund_status(reference="r1", processor_refund_reference=first.processor_reference)
    assert status.outcome is Outcome.SUCCEEDED
    order = paypal.status(reference="x", processor_reference=created.processor_reference)
    assert (order.amount_captured, order.amount_refunded) == (1000, 250)


def test_status_without_order_id_means_nothing_moved(paypal):
    result = paypal.status(reference="att_lost", processor_reference=None)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "not_found")


# --- faults --------------------------------------------------------------------------------------


def test_create_order_failures_are_failed_because_no_money_can_move(paypal, paypal_account, merchant_keys, fake_paypal):
    fake_paypal.inject("status", path="/v2/checkout/orders", status=500)
    assert paypal.authorize(paypal_request()).outcome is Outcome.FAILED  # and the token is cached
    fake_paypal.inject("hold", path="/v2/checkout/orders")
    with short_read_timeout(paypal_account, path="/v2/checkout/orders"):
        connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=paypal_account.id)
        timed_out = connector.authorize(paypal_request())
    assert (timed_out.outcome, timed_out.error_code) == (Outcome.FAILED, "timeout")
    assert len(fake_paypal.requests_to("/v1/oauth2/token")) == 1  # only the held call had the short timeout
    fake_paypal.release()


def test_connection_refused_is_failed(merchant_keys, fake_paypal):
    account = paypal_account_for(merchant_keys.merchant_id, fake_paypal, base_url=fake_paypal.refusing_url())
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)
    result = connector.authorize(paypal_request())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "connection_error")


def test_capture_reply_lost_is_unknown_then_resolved_without_double_capture(paypal, fake_paypal):
    request, created = _approved_order(paypal, fake_paypal, amount=4200)
    fake_paypal.inject("reply_lost", path=f"/v2/checkout/orders/{created.processor_reference}/capture")
    result = paypal.complete(reference="c6", processor_reference=created.processor_reference, capture=True)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "connection_lost")
    synced = paypal.status(reference=request.reference, processor_reference=created.processor_reference)
    assert synced.outcome is Outcome.SUCCEEDED and synced.amount_captured == 4200
    retried = paypal.complete(reference="c6", processor_reference=created.processor_reference, capture=True)
    assert retried.outcome is Outcome.SUCCEEDED
    assert fake_paypal.total_captured() == Decimal("42.00")
    assert len(fake_paypal.captures) == 1


def test_capture_server_error_is_unknown(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal)
    fake_paypal.inject("status", path=f"/v2/checkout/orders/{created.processor_reference}/capture", status=500)
    result = paypal.complete(reference="c7", processor_reference=created.processor_reference, capture=True)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "processor_error")
    assert fake_paypal.total_captured() == 0


# --- webhooks ------------------------------------------------------------------------------------


def test_webhook_verified_through_paypal(paypal, fake_paypal):
    _, created = _approved_order(paypal, fake_paypal, amount=1000)
    paypal.complete(reference="c8", processor_reference=created.processor_reference, capture=True)
    capture = next(iter(fake_paypal.captures.values()))
    event = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", capture)
    body, headers = fake_paypal.webhook(event)
    parsed = paypal.parse_webhook(headers=headers, body=body)
    assert parsed.processor_event_id == event["id"]
    assert parsed.processor_reference == created.processor_reference
    assert parsed.result.outcome is Outcome.SUCCEEDED and parsed.result.amount_captured == 1000
    verify = fake_paypal.requests_to("/v1/notifications/verify-webhook-signature")[0].json()
    assert verify["webhook_id"] == fake_paypal.webhook_id and verify["webhook_event"] == event


def test_webhook_with_forged_signature_rejected(paypal, fake_paypal):
    event = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "status": "COMPLETED"})
    body, headers = fake_paypal.webhook(event, webhook_id="WHSOMEONEELSE")
    with pytest.raises(WebhookVerificationError):
        paypal.parse_webhook(headers=headers, body=body)


def test_webhook_verification_unavailable(paypal, fake_paypal):
    event = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "status": "COMPLETED"})
    body, headers = fake_paypal.webhook(event)
    fake_paypal.inject("status", path="/v1/notifications/verify-webhook-signature", status=503)
    with pytest.raises(WebhookVerificationUnavailable):
        paypal.parse_webhook(headers=headers, body=body)


# --- 409: an earlier call still in progress is an unknown outcome, never a decline -----------------


def test_refund_retried_after_a_timeout_meets_409_then_ends_with_one_refund(
    paypal, paypal_account, merchant_keys, fake_paypal
):
    # Given a captured order and PayPal slow to answer a refund (held past our read timeout)
    _, created = _approved_order(paypal, fake_paypal, amount=1000)
    paypal.complete(reference="c10", processor_reference=created.processor_reference, capture=True)
    fake_paypal.inject("hold", path="/v2/payments/captures/")
    refund = {"reference": "r10", "processor_reference": created.processor_reference, "amount": 400, "currency": "USD"}
    with short_read_timeout(paypal_account, path="/v2/payments/captures/"):  # the refund, not the order read
        first = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=paypal_account.id).refund(
            **refund
        )
    assert (first.outcome, first.error_code) == (Outcome.UNKNOWN, "timeout")

    # When the refund is retried with the same PayPal-Request-Id while the first is still running
    retried = paypal.refund(**refund)

    # Then PayPal's 409 PREVIOUS_REQUEST_IN_PROGRESS is an unknown outcome: the first may still succeed
    assert (retried.outcome, retried.error_code) == (Outcome.UNKNOWN, "request_in_progress")
    assert retried.extra["http_status"] == 409
    # and once it has, the next retry replays it: one refund, never two
    fake_paypal.release()
    final = paypal.refund(**refund)
    assert (final.outcome, final.amount_refunded) == (Outcome.SUCCEEDED, 400)
    assert len(fake_paypal.refunds) == 1 and fake_paypal.total_refunded() == Decimal("4.00")


def test_void_retried_after_a_timeout_meets_409_then_is_voided_once(paypal, paypal_account, merchant_keys, fake_paypal):
    # Given an authorization and PayPal slow to answer its void
    _, created = _approved_order(paypal, fake_paypal, capture=False)
    paypal.complete(reference="a10", processor_reference=created.processor_reference, capture=False)
    [auth_id] = fake_paypal.authorizations
    void_path = f"/v2/payments/authorizations/{auth_id}/void"
    fake_paypal.inject("hold", path=void_path)
    with short_read_timeout(paypal_account, path=void_path):  # the void, not the order read
        connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=paypal_account.id)
        first = connector.void(reference="v10", processor_reference=created.processor_reference)
    assert (first.outcome, first.error_code) == (Outcome.UNKNOWN, "timeout")

    # When the void is retried while the first is still running: 409, unknown, never a decline
    retried = paypal.void(reference="v10", processor_reference=created.processor_reference)
    assert (retried.outcome, retried.error_code) == (Outcome.UNKNOWN, "request_in_progress")

    # Then, once it went through, the retry finds it done (PREVIOUSLY_VOIDED, or the order says VOIDED)
    fake_paypal.release()
    final = paypal.void(reference="v10", processor_reference=created.processor_reference)
    assert (final.outcome, final.raw_status) == (Outcome.SUCCEEDED, "VOIDED")
    assert fake_paypal.authorizations[auth_id]["status"] == "VOIDED"
    assert len(fake_paypal.requests_to(f"/v2/payments/authorizations/{auth_id}/void")) == 2  # none after VOIDED


def test_order_completion_in_progress_is_unknown(paypal, fake_paypal, monkeypatch):
    # orders.capture 422 ORDER_COMPLETION_IN_PROGRESS: another capture of the order is running
    _, created = _approved_order(paypal, fake_paypal)
    busy = {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "ORDER_COMPLETION_IN_PROGRESS"}]}
    monkeypatch.setattr(
        "processors.paypal.client.PayPalClient.call",
        lambda self, *args, **kwargs: Reply(status=422, headers=CaseInsensitiveDict(), body=busy, text="{}"),
    )
    result = paypal.complete(reference="c11", processor_reference=created.processor_reference, capture=True)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "request_in_progress")


# --- webhooks as PayPal sends them ------------------------------------------------------------------------


def test_refund_webhook_names_our_refund_by_its_custom_id(paypal, fake_paypal):
    # Given a refund (its custom_id is our refund id)
    _, created = _approved_order(paypal, fake_paypal, amount=1000)
    paypal.complete(reference="c12", processor_reference=created.processor_reference, capture=True)
    paypal.refund(reference="ref_ours", processor_reference=created.processor_reference, amount=300, currency="USD")
    [refund] = fake_paypal.refunds.values()
    # When PayPal notifies PAYMENT.CAPTURE.REFUNDED (the resource is the refund: no supplementary_data)
    body, headers = fake_paypal.webhook(fake_paypal.event("PAYMENT.CAPTURE.REFUNDED", refund))
    parsed = paypal.parse_webhook(headers=headers, body=body)
    # Then the event names our refund, so one whose reply was lost is found
    assert parsed.gateway_refund_reference == "ref_ours"
    assert parsed.refund_reference == refund["id"] and parsed.result.amount_refunded == 300


def test_webhook_body_is_verified_exactly_as_received(paypal, fake_paypal):
    # Given a notification whose bytes a re-encoding would change (\u escapes, an escaped slash)
    event = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "status": "COMPLETED", "note": "café/1"})
    body = json.dumps(event).replace("/", "\\/").encode()
    assert b"\\u00e9" in body and b"\\/" in body
    # When it is verified through PayPal
    parsed = paypal.parse_webhook(headers=fake_paypal.sign_webhook(body), body=body)
    # Then PayPal saw the very bytes it signed
    assert parsed.processor_event_id == event["id"]
    [verify] = fake_paypal.requests_to("/v1/notifications/verify-webhook-signature")
    assert body in verify.body


def test_authorization_captured_without_a_listed_capture_is_not_a_decline(paypal, fake_paypal):
    # Given an authorization PayPal reports CAPTURED while the order lists no capture (yet)
    _, created = _approved_order(paypal, fake_paypal, capture=False, amount=2000)
    paypal.complete(reference="a13", processor_reference=created.processor_reference, capture=False)
    paypal.capture(reference="cap13", processor_reference=created.processor_reference, amount=2000, currency="USD")
    fake_paypal.orders[created.processor_reference]["purchase_units"][0]["payments"].pop("captures")
    # When its status is read, and a void is attempted
    status = paypal.status(reference="a13", processor_reference=created.processor_reference)
    voided = paypal.void(reference="v13", processor_reference=created.processor_reference)
    # Then money moved, by an amount not known yet: unknown (asked again), never declined; and it cannot be voided
    assert (status.outcome, status.error_code) == (Outcome.UNKNOWN, "capture_not_listed")
    assert (voided.outcome, voided.error_code) == (Outcome.DECLINED, "already_captured")
    assert fake_paypal.total_captured() == Decimal("20.00")
