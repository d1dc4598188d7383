"""The full payment flows over HTTP, each ending with the books checked (ledger_check)."""

from urllib.parse import parse_qs, urlsplit

import pytest

from events.models import Event
from ledger.selectors import payment_ledger_net
from orders.models import Order
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentMethod, Refund
from tests.orders.factories import OrderFactory

from .conftest import (
    DECLINE,
    INSUFFICIENT_FUNDS,
    MASTERCARD,
    PAYPAL,
    PROCESSING_ERROR,
    THREE_DS,
    assert_books_balance,
    browser_answers,
    card,
    error_of,
    sandbox_charges,
    sandbox_refunds,
)

pytestmark = pytest.mark.django_db

RETURN_URL = "https://shop.example/checkout/done?cart=7"


def event_types(merchant_id: str) -> list[str]:
    return list(Event.objects.filter(merchant_id=merchant_id).order_by("id").values_list("type", flat=True))


def test_card_success_captures_books_and_publishes_events(create_payment, merchant_keys):
    # given a merchant, when it creates and confirms a payment with the success card
    response = create_payment(amount=2599, currency="eur", payment_method=card(), confirm=True, metadata={"o": "1"})

    # then it succeeded, captured in full, and shows only brand/last4/expiry/fingerprint
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["amount_received"] == 2599 and body["amount_capturable"] == 0 and body["amount_refunded"] == 0
    assert body["currency"] == "EUR" and body["processor"] == "sandbox"
    method = body["payment_method"]
    assert method["type"] == "card" and method["id"] is None
    assert method["card"]["brand"] == "visa" and method["card"]["last4"] == "4242"
    assert method["card"]["exp_month"] == 12 and method["card"]["exp_year"] == 2034
    assert len(method["card"]["fingerprint"]) == 32
    assert "number" not in str(body) and "cvc" not in str(body)
    # and the database agrees, with one succeeded attempt and one charge at the processor
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received, payment.amount_authorized) == ("succeeded", 2599, 2599)
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.status == AttemptStatus.SUCCEEDED and attempt.processor_reference == payment.processor_reference
    assert attempt.latency_ms is not None and attempt.next_sync_at is None
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.reference == attempt.id and charge.amount_captured == 2599
    assert payment_ledger_net(payment_id=payment.id) == {"EUR": 2599}
    assert event_types(merchant_keys.merchant_id) == ["payment.created", "payment.processing", "payment.succeeded"]
    created = Event.objects.get(merchant_id=merchant_keys.merchant_id, type="payment.created")
    assert created.data["object"]["status"] == "requires_payment_method"
    assert_books_balance()


def test_decline_then_retry_with_another_card(create_payment, secret_client, merchant_keys):
    # given a payment confirmed with a card that has insufficient funds
    response = create_payment(payment_method=card(INSUFFICIENT_FUNDS), confirm=True, expected=402)

    # then it is a 402 card_error with the decline code, and the payment can be retried
    error = error_of(response)
    assert error["type"] == "card_error" and error["code"] == "card_declined"
    assert error["decline_code"] == "insufficient_funds"
    payment_id = error["payment"]["id"]
    assert error["payment"]["status"] == "requires_payment_method"
    payment = Payment.objects.get(pk=payment_id)
    assert payment.status == "requires_payment_method" and payment.amount_received == 0
    assert payment.last_payment_error["decline_code"] == "insufficient_funds"

    # when it is confirmed again with another card
    retry = secret_client.post(
        f"/v1/payments/{payment_id}/confirm", {"payment_method": card(MASTERCARD)}, format="json"
    )

    # then it succeeds; two attempts, two processor charges, one capture in the books
    assert retry.status_code == 200, retry.content
    assert retry.json()["status"] == "succeeded" and retry.json()["last_payment_error"] is None
    assert retry.json()["payment_method"]["card"]["brand"] == "mastercard"
    statuses = list(
        PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id").values_list("status", flat=True)
    )
    assert statuses == ["declined", "succeeded"]
    assert [c.status for c in sandbox_charges(merchant_keys.merchant_id)] == ["declined", "succeeded"]
    assert payment_ledger_net(payment_id=payment_id) == {"USD": 2000}
    assert "payment.failed" in event_types(merchant_keys.merchant_id)
    assert_books_balance()


@pytest.mark.parametrize(
    ("number", "code", "decline_code"),
    [(DECLINE, "card_declined", "generic_decline"), (PROCESSING_ERROR, "processing_error", None)],
)
def test_decline_codes(create_payment, number, code, decline_code):
    error = error_of(create_payment(payment_method=card(number), confirm=True, expected=402))

    assert (error["code"], error["decline_code"]) == (code, decline_code)
    assert error["param"] == "payment_method"
    assert Payment.objects.get(pk=error["payment"]["id"]).decline_count == 1
    assert_books_balance()


def test_three_d_secure_approved(create_payment, merchant_keys):
    # given a payment with the 3-D Secure card
    body = create_payment(payment_method=card(THREE_DS), confirm=True, return_url=RETURN_URL).json()

    # then it requires the customer's action on the sandbox's challenge page
    assert body["status"] == "requires_action"
    redirect = body["next_action"]["redirect_to_url"]
    assert "/sandbox/3ds/" in redirect["url"] and redirect["return_url"] == RETURN_URL
    assert Payment.objects.get(pk=body["id"]).amount_received == 0

    # when the customer completes the challenge and the browser comes back
    landing = browser_answers(redirect["url"], approve=True)

    # then the browser lands on the merchant's page and the payment succeeded
    query = parse_qs(urlsplit(landing).query)
    assert landing.startswith("https://shop.example/checkout/done?")
    assert query == {"cart": ["7"], "payment": [body["id"]], "status": ["succeeded"]}
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "succeeded" and payment.amount_received == 2000 and payment.next_action is None
    operations = list(PaymentAttempt.objects.filter(payment=payment).order_by("id").values_list("operation", "status"))
    assert operations == [("authorize", "requires_action"), ("complete", "succeeded")]
    assert event_types(merchant_keys.merchant_id)[-3:] == [
        "payment.requires_action",
        "payment.processing",
        "payment.succeeded",
    ]
    assert_books_balance()


def test_three_d_secure_failed_leaves_payment_retryable(create_payment, secret_client):
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()

    page = browser_answers(body["next_action"]["redirect_to_url"]["url"], approve=False)

    # no merchant return_url: the browser gets our small page
    assert "requires_payment_method" in page
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_payment_method" and payment.amount_received == 0
    assert payment.last_payment_error["decline_code"] == "authentication_failed"
    retry = secret_client.post(f"/v1/payments/{payment.id}/confirm", {"payment_method": card()}, format="json")
    assert retry.status_code == 200 and retry.json()["status"] == "succeeded"
    assert_books_balance()


def test_return_endpoint_trusts_no_query_and_is_idempotent(create_payment, client):
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()

    # a browser claiming success before answering the challenge changes nothing
    early = client.get(f"/v1/payments/{body['id']}/return?status=succeeded&redirect_status=succeeded")
    assert early.status_code == 200
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"

    browser_answers(body["next_action"]["redirect_to_url"]["url"], approve=True)
    again = client.get(f"/v1/payments/{body['id']}/return")

    assert again.status_code == 200 and b"succeeded" in again.content
    assert Payment.objects.get(pk=body["id"]).amount_received == 2000
    assert_books_balance()


def test_manual_capture_partial_releases_the_rest(create_payment, secret_client, merchant_keys):
    body = create_payment(amount=5000, capture_method="manual", payment_method=card(), confirm=True).json()
    assert body["status"] == "requires_capture" and body["amount_capturable"] == 5000
    assert payment_ledger_net(payment_id=body["id"]) == {}

    too_much = secret_client.post(f"/v1/payments/{body['id']}/capture", {"amount_to_capture": 5001}, format="json")
    assert too_much.status_code == 400 and error_of(too_much)["param"] == "amount_to_capture"

    captured = secret_client.post(f"/v1/payments/{body['id']}/capture", {"amount_to_capture": 3000}, format="json")

    assert captured.status_code == 200, captured.content
    result = captured.json()
    assert (result["status"], result["amount_received"], result["amount_capturable"]) == ("succeeded", 3000, 0)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert (charge.amount_authorized, charge.amount_captured) == (5000, 3000)
    assert payment_ledger_net(payment_id=body["id"]) == {"USD": 3000}
    again = secret_client.post(f"/v1/payments/{body['id']}/capture", {}, format="json")
    assert again.status_code == 409 and error_of(again)["code"] == "payment_unexpected_state"
    assert "'succeeded'" in error_of(again)["message"]
    assert_books_balance()


def test_cancel_before_and_after_authorization(create_payment, secret_client, merchant_keys):
    unconfirmed = create_payment().json()
    authorized = create_payment(capture_method="manual", payment_method=card(), confirm=True).json()

    first = secret_client.post(f"/v1/payments/{unconfirmed['id']}/cancel", {}, format="json")
    second = secret_client.post(
        f"/v1/payments/{authorized['id']}/cancel", {"cancellation_reason": "requested_by_customer"}, format="json"
    )

    assert first.status_code == 200 and first.json()["status"] == "canceled"
    assert second.status_code == 200 and second.json()["status"] == "canceled"
    assert second.json()["cancellation_reason"] == "requested_by_customer"
    assert second.json()["amount_capturable"] == 0
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.status == "canceled"
    after = secret_client.post(f"/v1/payments/{authorized['id']}/capture", {}, format="json")
    assert after.status_code == 409
    assert_books_balance()


def test_paypal_approve_and_cancel(create_payment, secret_client, merchant_keys):
    body = create_payment(payment_method=PAYPAL, confirm=True, return_url=RETURN_URL).json()
    assert body["status"] == "requires_action" and body["payment_method"] == {"id": None, "type": "paypal"}
    assert "/sandbox/paypal/" in body["next_action"]["redirect_to_url"]["url"]

    landing = browser_answers(body["next_action"]["redirect_to_url"]["url"], approve=True)

    assert parse_qs(urlsplit(landing).query)["status"] == ["succeeded"]
    assert Payment.objects.get(pk=body["id"]).amount_received == 2000

    other = create_payment(payment_method=PAYPAL, confirm=True).json()
    browser_answers(other["next_action"]["redirect_to_url"]["url"], approve=False)
    canceled = Payment.objects.get(pk=other["id"])
    assert canceled.status == "requires_payment_method"  # retryable with another method
    assert canceled.last_payment_error["code"] == "payment_method_canceled"
    assert_books_balance()


def test_paypal_manual_capture(create_payment, secret_client):
    body = create_payment(payment_method=PAYPAL, confirm=True, capture_method="manual").json()
    browser_answers(body["next_action"]["redirect_to_url"]["url"], approve=True)
    assert Payment.objects.get(pk=body["id"]).status == "requires_capture"

    captured = secret_client.post(f"/v1/payments/{body['id']}/capture", {}, format="json")

    assert captured.status_code == 200 and captured.json()["amount_received"] == 2000
    assert_books_balance()


def test_partial_and_full_refunds(create_payment, secret_client, merchant_keys):
    payment = create_payment(amount=10000, payment_method=card(), confirm=True).json()

    first = secret_client.post("/v1/refunds", {"payment": payment["id"], "amount": 2500}, format="json")
    second = secret_client.post("/v1/refunds", {"payment": payment["id"], "amount": 7501}, format="json")
    rest = secret_client.post(
        "/v1/refunds", {"payment": payment["id"], "reason": "requested_by_customer"}, format="json"
    )
    none_left = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")

    assert first.status_code == 201 and first.json()["status"] == "succeeded" and first.json()["amount"] == 2500
    assert second.status_code == 400 and error_of(second)["param"] == "amount"
    assert rest.status_code == 201 and rest.json()["amount"] == 7500
    assert none_left.status_code == 409 and error_of(none_left)["code"] == "charge_already_refunded"
    row = Payment.objects.get(pk=payment["id"])
    assert (row.amount_received, row.amount_refunded) == (10000, 10000)
    assert sum(r.amount for r in sandbox_refunds(merchant_keys.merchant_id)) == 10000
    assert payment_ledger_net(payment_id=row.id) == {"USD": 0}
    listed = secret_client.get(f"/v1/refunds?payment={payment['id']}").json()
    assert [r["amount"] for r in listed["data"]] == [7500, 2500]
    fetched = secret_client.get(f"/v1/refunds/{first.json()['id']}").json()
    assert fetched == first.json() | {"updated": fetched["updated"]}
    types = event_types(merchant_keys.merchant_id)
    assert types.count("refund.created") == 2 and types.count("refund.succeeded") == 2
    assert_books_balance()


def test_refund_of_uncaptured_payment_is_refused(create_payment, secret_client):
    payment = create_payment(capture_method="manual", payment_method=card(), confirm=True).json()

    response = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")

    assert response.status_code == 409 and error_of(response)["code"] == "payment_unexpected_state"
    assert not Refund.objects.exists()


def test_order_linkage_pays_and_refunds_the_order(secret_client, merchant, customer, merchant_keys):
    order = OrderFactory(
        customer=customer, lines=[{"sku": "TEA", "quantity": 2, "unit_amount": 1500}], shipping_amount=500
    )

    wrong = secret_client.post("/v1/payments", {"order": order.id, "amount": 100, "currency": "usd"}, format="json")
    assert wrong.status_code == 400 and error_of(wrong)["code"] == "amount_mismatch"

    paid = secret_client.post(
        "/v1/payments", {"order": order.id, "payment_method": card(), "confirm": True}, format="json"
    )

    assert paid.status_code == 201, paid.content
    body = paid.json()
    assert (body["amount"], body["currency"], body["order"], body["customer"]) == (3500, "USD", order.id, customer.id)
    order.refresh_from_db()
    assert (order.status, order.amount_paid) == ("paid", 3500)
    again = secret_client.post(
        "/v1/payments", {"order": order.id, "payment_method": card(), "confirm": True}, format="json"
    )
    assert again.status_code == 409 and error_of(again)["code"] == "order_not_payable"

    partial = secret_client.post("/v1/refunds", {"payment": body["id"], "amount": 1000}, format="json")
    order.refresh_from_db()
    assert partial.status_code == 201 and (order.status, order.amount_refunded) == ("partially_refunded", 1000)
    secret_client.post("/v1/refunds", {"payment": body["id"]}, format="json")
    order.refresh_from_db()
    assert (order.status, order.amount_refunded) == ("refunded", 3500)
    assert "order.paid" in event_types(merchant_keys.merchant_id)
    assert Order.objects.get(pk=order.id).amount_paid == 3500
    assert_books_balance()


def test_save_card_and_pay_by_saved_method(secret_client, customer, merchant_keys):
    first = secret_client.post(
        "/v1/payments",
        {
            "amount": 1200,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": card(MASTERCARD),
            "save_payment_method": True,
            "confirm": True,
        },
        format="json",
    )
    assert first.status_code == 201, first.content
    method_id = first.json()["payment_method"]["id"]
    method = PaymentMethod.objects.get(pk=method_id)
    assert method.customer_id == customer.id and method.card_last4 == "4444" and method.vault_token

    second = secret_client.post(
        "/v1/payments",
        {"amount": 800, "currency": "usd", "customer": customer.id, "payment_method": method_id, "confirm": True},
        format="json",
    )

    assert second.status_code == 201, second.content
    assert second.json()["status"] == "succeeded" and second.json()["payment_method"]["id"] == method_id
    charges = sandbox_charges(merchant_keys.merchant_id)
    assert [c.last4 for c in charges] == ["4444", "4444"]
    stranger = secret_client.post(
        "/v1/payments", {"amount": 800, "currency": "usd", "payment_method": method_id, "confirm": True}, format="json"
    )
    assert stranger.status_code == 400 and error_of(stranger)["code"] == "payment_method_customer_mismatch"
    assert_books_balance()


def test_confirm_later_with_attached_card_then_single_use_ciphertext_is_erased(create_payment, secret_client):
    body = create_payment(payment_method=card()).json()
    assert body["status"] == "requires_confirmation"
    method = PaymentMethod.objects.get(pk=body["payment_method"]["id"])
    assert method.customer_id is None and method.vault_token

    confirmed = secret_client.post(f"/v1/payments/{body['id']}/confirm", {}, format="json")

    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    method.refresh_from_db()
    assert method.vault_token == ""
    assert_books_balance()


@pytest.mark.django_db
def test_an_order_with_an_authorized_payment_cannot_be_canceled_until_the_payment_is(
    secret_client, merchant, customer, create_payment
):
    # Given an order whose payment holds an authorization (manual capture)
    from tests.orders.factories import OrderFactory

    order = OrderFactory(customer=customer)
    payment = create_payment(
        order=order.id,
        amount=order.total,
        currency=order.currency,
        confirm=True,
        capture_method="manual",
        payment_method=card(),
    ).json()
    assert payment["status"] == "requires_capture"
    # (and a second payment for the same order is refused while this one is open)
    second = secret_client.post(
        "/v1/payments", {"order": order.id, "payment_method": card(), "confirm": True}, format="json"
    )
    assert second.status_code == 409 and error_of(second)["code"] == "order_payment_in_progress"
    # When the merchant cancels the order, it is refused and nothing changes
    refused = secret_client.post(f"/v1/orders/{order.id}/cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "order_has_active_payment"
    order.refresh_from_db()
    assert order.status == "pending"
    # Then once the payment is canceled (authorization released), the order can be canceled
    assert secret_client.post(f"/v1/payments/{payment['id']}/cancel").json()["status"] == "canceled"
    assert secret_client.post(f"/v1/orders/{order.id}/cancel").json()["status"] == "canceled"
    assert_books_balance(merchant.id)
