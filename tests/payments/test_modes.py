"""Test and live mode are separate: a key sees and acts only on its own mode's payments, refunds
and payment methods (the other mode's are 404); a live payment never reaches the sandbox."""

import pytest

from events.models import Event
from merchants.models import Merchant
from merchants.services import api_key_create
from payments.models import Payment, PaymentAttempt, PaymentMethod, Refund
from processors.services import processor_account_create, processor_route_set
from sandbox.models import SandboxCharge
from sandbox.services import sandbox_fault_plan_set
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

from .conftest import MASTERCARD, THREE_DS, assert_books_balance, card, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_client(merchant_keys):
    from rest_framework.test import APIClient

    raw = api_key_create(merchant=Merchant.objects.get(id=merchant_keys.merchant_id), kind="secret", livemode=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw.raw_key}")
    return client


def test_live_key_cannot_see_or_act_on_test_payments_and_refunds(secret_client, live_client, merchant_keys):
    # Given a captured test payment with a refund, and an authorized one
    paid = secret_client.post(
        "/v1/payments", {"amount": 900, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    ).json()
    refund = secret_client.post("/v1/refunds", {"payment": paid["id"], "amount": 100}, format="json").json()
    held = secret_client.post(
        "/v1/payments",
        {"amount": 400, "currency": "usd", "payment_method": card(), "confirm": True, "capture_method": "manual"},
        format="json",
    ).json()
    draft = secret_client.post("/v1/payments", {"amount": 300, "currency": "usd"}, format="json").json()

    # When the merchant's live key looks at them and acts on them
    responses = {
        "get": live_client.get(f"/v1/payments/{paid['id']}"),
        "capture": live_client.post(f"/v1/payments/{held['id']}/capture", {}, format="json"),
        "cancel": live_client.post(f"/v1/payments/{held['id']}/cancel", {}, format="json"),
        "confirm": live_client.post(f"/v1/payments/{draft['id']}/confirm", {"payment_method": card()}, format="json"),
        "refund": live_client.post("/v1/refunds", {"payment": paid["id"]}, format="json"),
        "get_refund": live_client.get(f"/v1/refunds/{refund['id']}"),
    }

    # Then every one is a 404, the lists are empty, and nothing changed
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    assert error_of(responses["refund"])["param"] == "payment"
    assert live_client.get("/v1/payments").json()["data"] == []
    assert live_client.get("/v1/refunds").json()["data"] == []
    assert secret_client.get(f"/v1/payments/{paid['id']}").status_code == 200  # cached for the test key...
    assert live_client.get(f"/v1/payments/{paid['id']}").status_code == 404  # ...never served to the live one
    statuses = dict(Payment.objects.values_list("id", "status"))
    assert (statuses[held["id"]], statuses[draft["id"]]) == ("requires_capture", "requires_payment_method")
    assert list(Refund.objects.values_list("amount", flat=True)) == [100]
    assert SandboxCharge.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 2
    assert_books_balance()


def test_live_customer_sees_no_test_payments_or_methods(secret_client, merchant_keys):
    # Given a test customer's payment with a saved card, and a live customer of the same merchant
    test_customer = customer_client(merchant_keys=merchant_keys)
    live_customer = customer_client(merchant_keys=merchant_keys, livemode=True)
    secret_client.post(
        "/v1/payments",
        {
            "amount": 500,
            "currency": "usd",
            "customer": test_customer.customer_id,
            "payment_method": card(MASTERCARD),
            "save_payment_method": True,
            "confirm": True,
        },
        format="json",
    )
    (method,) = PaymentMethod.objects.filter(customer_id=test_customer.customer_id)

    # When the live customer lists and opens them
    # Then nothing of the test mode is visible
    assert live_customer.get("/v1/me/payments").json()["data"] == []
    assert live_customer.get("/v1/me/payment_methods").json()["data"] == []
    assert live_customer.get(f"/v1/me/payment_methods/{method.id}").status_code == 404
    assert live_customer.delete(f"/v1/me/payment_methods/{method.id}").status_code == 404
    method.refresh_from_db()
    assert method.detached_at is None and method.vault_token


def test_live_payment_without_a_live_route_is_503_and_writes_nothing(live_client, merchant_keys):
    # Given no live processor account (only the sandbox, which serves test mode, and a live-flagged
    # sandbox account, which cannot take live money either)
    fake_live = processor_account_create(
        merchant_id=merchant_keys.merchant_id,
        processor="sandbox",
        display_name="not real",
        credentials={},
        livemode=True,
    )
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="paypal", account_ids=[fake_live.id])

    # When a live key pays by card and by PayPal
    responses = [
        live_client.post(
            "/v1/payments",
            {"amount": 500, "currency": "usd", "payment_method": method, "confirm": True},
            format="json",
        )
        for method in (card(), {"type": "paypal"})
    ]

    # Then 503 processor_unavailable, and no payment, attempt or charge exists
    for response in responses:
        assert response.status_code == 503 and error_of(response)["code"] == "processor_unavailable"
    assert not Payment.objects.exists() and not PaymentAttempt.objects.exists()
    assert not SandboxCharge.objects.exists()
    assert not Event.objects.filter(livemode=True).exists()
    assert_books_balance()


def test_test_payment_never_routes_to_a_live_account(secret_client, merchant_keys):
    # Given the merchant routes cards only to a live account
    live = processor_account_create(
        merchant_id=merchant_keys.merchant_id,
        processor="stripe",
        display_name="Live",
        credentials={"secret_key": "sk_live_unused"},
        livemode=True,
    )
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[live.id])

    # When a test key pays
    response = secret_client.post(
        "/v1/payments", {"amount": 500, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    )

    # Then the payment ran on the sandbox (test mode's processor), never on the live account
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["id"])
    assert (payment.livemode, payment.processor_account_id, payment.status) == (False, "sandbox", "succeeded")
    assert not PaymentAttempt.objects.filter(processor_account_id=live.id).exists()
    assert SandboxCharge.objects.get(merchant_id=merchant_keys.merchant_id).amount_captured == 500
    assert_books_balance()


# --- saved payment methods of another merchant or mode ---------------------------------------------


def test_saved_method_of_another_merchant_or_mode_is_404(
    secret_client, live_client, other_merchant_keys, merchant_keys
):
    # Given a card saved by a test customer of this merchant
    merchant = Merchant.objects.get(id=merchant_keys.merchant_id)
    customer = CustomerFactory(merchant=merchant)
    secret_client.post(
        "/v1/payments",
        {"amount": 500, "currency": "usd", "customer": customer.id, "payment_method": card(),
         "save_payment_method": True, "confirm": True},
        format="json",
    )  # fmt: skip
    (method,) = PaymentMethod.objects.filter(customer=customer)
    body = {"amount": 100, "currency": "usd", "payment_method": method.id, "confirm": True}

    # When another merchant, and this merchant's live key, try to pay with it
    other = other_merchant_keys.client("secret").post("/v1/payments", body, format="json")
    live = live_client.post("/v1/payments", body, format="json")

    # Then both are 404 naming payment_method, and nothing was charged
    for response in (other, live):
        assert response.status_code == 404
        assert (error_of(response)["code"], error_of(response)["param"]) == ("resource_missing", "payment_method")
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


# --- events of back-transitions ----------------------------------------------------------------------


def _event_types(payment_id: str) -> list[str]:
    events = Event.objects.order_by("created", "id")
    return [e.type for e in events if ((e.data or {}).get("object") or {}).get("id") == payment_id]


def test_capture_not_processed_emits_payment_updated_not_authorized_again(secret_client, merchant_keys):
    # Given an authorized payment, and the processor down for the capture
    pid = secret_client.post(
        "/v1/payments",
        {"amount": 800, "currency": "usd", "payment_method": card(), "confirm": True, "capture_method": "manual"},
        format="json",
    ).json()["id"]
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["capture"])

    # When the capture is provably not processed
    response = secret_client.post(f"/v1/payments/{pid}/capture", {}, format="json")

    # Then the payment is back to requires_capture, announced as an update (authorized only once)
    assert response.status_code == 503
    assert Payment.objects.get(pk=pid).status == "requires_capture"
    types = _event_types(pid)
    assert types.count("payment.authorized") == 1
    assert types[-2:] == ["payment.processing", "payment.updated"]
    assert SandboxCharge.objects.get(merchant_id=merchant_keys.merchant_id).amount_captured == 0
    assert_books_balance()


def test_refused_void_emits_payment_updated_not_requires_action_again(secret_client, merchant_keys):
    # Given a payment waiting for 3-D Secure, and the processor down for the void
    pid = secret_client.post(
        "/v1/payments", {"amount": 800, "currency": "usd", "payment_method": card(THREE_DS), "confirm": True},
        format="json",
    ).json()["id"]  # fmt: skip
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["void"])

    # When the merchant cancels it and the void is not processed
    response = secret_client.post(f"/v1/payments/{pid}/cancel", {}, format="json")

    # Then it is back to requires_action, announced as an update
    assert response.status_code == 503
    assert Payment.objects.get(pk=pid).status == "requires_action"
    types = _event_types(pid)
    assert types.count("payment.requires_action") == 1
    assert types[-1] == "payment.updated"
    assert_books_balance()
