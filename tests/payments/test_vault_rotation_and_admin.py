"""Key rotation of the stored cards (``manage.py vault_rotate_keys``) and the operators' admin."""

import base64
import os

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from gateway import crypto
from payments.models import Payment, PaymentMethod
from payments.vault import card_decrypt
from tests.customers.factories import CustomerFactory

from .conftest import MASTERCARD, card

pytestmark = pytest.mark.django_db


def new_key(kid: str) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode()}"


OLD, NEW = new_key("old"), new_key("new")
HMAC = "h" * 40


def test_rotation_reencrypts_every_stored_card_under_the_newest_key(secret_client, merchant_keys, capsys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    with override_settings(ENCRYPTION_KEYS=[OLD], HMAC_KEY=HMAC):
        saved = secret_client.post(
            "/v1/payments",
            {
                "amount": 100,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": card(MASTERCARD),
                "save_payment_method": True,
                "confirm": True,
            },
            format="json",
        ).json()
        pending = secret_client.post(
            "/v1/payments", {"amount": 100, "currency": "usd", "payment_method": card()}, format="json"
        ).json()
    tokens = dict(PaymentMethod.objects.values_list("id", "vault_token"))
    assert len(tokens) == 2 and all(crypto.token_kid(t) == "old" for t in tokens.values())

    with override_settings(ENCRYPTION_KEYS=[OLD, NEW], HMAC_KEY=HMAC):
        call_command("vault_rotate_keys", "--batch-size", "1")
        assert "re-encrypted 2 payment method(s)" in capsys.readouterr().out
        call_command("vault_rotate_keys")
        assert "re-encrypted 0 payment method(s)" in capsys.readouterr().out

    rotated = dict(PaymentMethod.objects.values_list("id", "vault_token"))
    assert all(crypto.token_kid(t) == "new" for t in rotated.values())
    with override_settings(ENCRYPTION_KEYS=[NEW], HMAC_KEY=HMAC):  # the old key can now be dropped
        assert card_decrypt(rotated[saved["payment_method"]["id"]]).number == MASTERCARD
        confirmed = secret_client.post(f"/v1/payments/{pending['id']}/confirm", {}, format="json")
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("ops", "ops@example.com", "a long admin password")
    client.force_login(user)
    return client


def test_admin_pages_show_money_read_only_and_never_the_ciphertext(admin_client, secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    paid = secret_client.post(
        "/v1/payments",
        {
            "amount": 900,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": card(),
            "save_payment_method": True,
            "confirm": True,
        },
        format="json",
    ).json()
    refund = secret_client.post("/v1/refunds", {"payment": paid["id"], "amount": 100}, format="json").json()
    method = PaymentMethod.objects.get(pk=paid["payment_method"]["id"])

    pages = {
        "payments": admin_client.get("/admin/payments/payment/"),
        "payment": admin_client.get(f"/admin/payments/payment/{paid['id']}/change/"),
        "refunds": admin_client.get("/admin/payments/refund/"),
        "refund": admin_client.get(f"/admin/payments/refund/{refund['id']}/change/"),
        "methods": admin_client.get("/admin/payments/paymentmethod/"),
        "method": admin_client.get(f"/admin/payments/paymentmethod/{method.id}/change/"),
    }

    for name, page in pages.items():
        assert page.status_code == 200, name
        html = page.content.decode()
        assert method.vault_token[:30] not in html and "4242424242424242" not in html, name
    payment_page = pages["payment"].content.decode()
    assert 'name="amount_received"' not in payment_page  # read-only: no input for money
    assert refund["id"] in payment_page and "authorize" in payment_page  # refunds and attempts inline
    selected = {"action": "sync_payment", "_selected_action": [paid["id"]]}
    confirm = admin_client.post("/admin/payments/payment/", selected)
    assert confirm.status_code == 200 and b"confirmation_token" in confirm.content
    sync = admin_client.post(
        "/admin/payments/payment/",
        {"action": "sync_payment", "_selected_action": [paid["id"]], "confirm": "yes", "confirmation_token": "t" * 20},
        follow=True,
    )
    assert sync.status_code == 200 and Payment.objects.get(pk=paid["id"]).status == "succeeded"
