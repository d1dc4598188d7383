"""manage.py processor_account_* commands and the admin: credentials go in, never come out."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from processors.models import BreakerEvent, ProcessorAccount, ProcessorRoute
from processors.selectors import account_credentials

pytestmark = pytest.mark.django_db

SECRET = "sk_test_supersecret_value_42"


def test_create_list_disable(merchant_keys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"secret_key": SECRET, "webhook_secret": "whsec_abc"})))
    out = io.StringIO()
    call_command(
        "processor_account_create",
        "--merchant",
        merchant_keys.merchant_id,
        "--processor",
        "stripe",
        "--name",
        "Stripe US",
        "--base-url",
        "http://127.0.0.1:9",
        "--read-timeout",
        "5",
        "--json",
        stdout=out,
    )
    account_id = json.loads(out.getvalue())["id"]
    account = ProcessorAccount.objects.get(id=account_id)
    assert (account.read_timeout, account.base_url) == (5.0, "http://127.0.0.1:9")
    assert account_credentials(account) == {"secret_key": SECRET, "webhook_secret": "whsec_abc"}

    call_command(
        "processor_route_set",
        "--merchant",
        merchant_keys.merchant_id,
        "--method",
        "card",
        "--accounts",
        account_id,
        stdout=io.StringIO(),
    )
    assert ProcessorRoute.objects.get().account_id == account_id

    listed = io.StringIO()
    call_command("processor_account_list", "--json", stdout=listed)
    [row] = json.loads(listed.getvalue())
    assert (row["id"], row["routes"], row["breaker"]) == (account_id, ["card/*#1"], "closed")
    assert SECRET not in listed.getvalue()

    call_command("processor_account_disable", account_id, stdout=io.StringIO())
    assert ProcessorAccount.objects.get(id=account_id).is_active is False


def test_create_refuses_bad_credentials(merchant_keys, monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    with pytest.raises(CommandError):
        call_command(
            "processor_account_create", "--merchant", merchant_keys.merchant_id, "--processor", "stripe", "--name", "x"
        )
    assert ProcessorAccount.objects.count() == 0


@pytest.fixture
def admin_client_logged_in(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-admin-password-1")
    client.force_login(user)
    return client


def test_admin_credentials_are_write_only(admin_client_logged_in, merchant_keys):
    # given an operator adding an account in admin
    response = admin_client_logged_in.post(
        "/admin/processors/processoraccount/add/",
        {
            "merchant": merchant_keys.merchant_id,
            "processor": "stripe",
            "display_name": "Stripe EU",
            "credentials": json.dumps({"secret_key": SECRET}),
            "base_url": "",
            "webhook_id": "",
            "is_active": "on",
            "routes-TOTAL_FORMS": "0",
            "routes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    account = ProcessorAccount.objects.get()
    assert account_credentials(account) == {"secret_key": SECRET}
    # then neither the change page nor the list shows the secret or its ciphertext
    page = admin_client_logged_in.get(f"/admin/processors/processoraccount/{account.id}/change/")
    listing = admin_client_logged_in.get("/admin/processors/processoraccount/")
    for content in (page.content, listing.content):
        assert SECRET.encode() not in content
        assert account.credentials_encrypted.encode() not in content
    assert b"closed (failures 0)" in page.content
    # and saving without credentials keeps the stored ones
    admin_client_logged_in.post(
        f"/admin/processors/processoraccount/{account.id}/change/",
        {
            "merchant": merchant_keys.merchant_id,
            "processor": "stripe",
            "display_name": "Renamed",
            "credentials": "",
            "base_url": "",
            "webhook_id": "",
            "is_active": "on",
            "routes-TOTAL_FORMS": "0",
            "routes-INITIAL_FORMS": "0",
        },
    )
    account.refresh_from_db()
    assert account.display_name == "Renamed" and account_credentials(account) == {"secret_key": SECRET}


def test_admin_lists_breaker_events(admin_client_logged_in):
    BreakerEvent.objects.create(breaker="pra_x", merchant_id="mer_x", old_state="closed", new_state="open")
    page = admin_client_logged_in.get("/admin/processors/breakerevent/")
    assert page.status_code == 200 and b"pra_x" in page.content


def test_credentials_are_reencrypted_under_a_new_key_and_still_open(db, settings):
    import base64
    import os

    from gateway import crypto
    from processors.models import ProcessorAccount
    from processors.selectors import account_credentials
    from tests.processors.factories import ProcessorAccountFactory

    def key(kid):
        return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    # Given an account whose credentials were encrypted under the first key
    first = key("k1")
    settings.ENCRYPTION_KEYS = [first]
    account = ProcessorAccountFactory()
    assert crypto.token_kid(account.credentials_encrypted) == "k1"
    # When a new key is appended and the command runs
    settings.ENCRYPTION_KEYS = [first, key("k2")]
    call_command("processor_credentials_reencrypt")
    # Then the credentials are under the new key, open with it alone, and a re-run changes nothing
    account = ProcessorAccount.objects.get(id=account.id)
    assert crypto.token_kid(account.credentials_encrypted) == "k2"
    settings.ENCRYPTION_KEYS = [settings.ENCRYPTION_KEYS[1]]
    assert account_credentials(account)["secret_key"] == "sk_test_factory"
    from processors.services import processor_credentials_reencrypt

    assert processor_credentials_reencrypt() == 0


@pytest.mark.django_db
def test_processor_timeouts_must_end_before_the_request_deadline(merchant_keys, settings):
    # A request's two processor calls must end before a retry may take its Idempotency-Key over.
    from gateway.errors import InvalidRequest
    from processors.services import processor_account_create

    settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS = 90
    with pytest.raises(InvalidRequest, match="under 45"):
        processor_account_create(
            merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="slow", credentials={},
            connect_timeout=5, read_timeout=40,
        )  # fmt: skip
    ok = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="ok", credentials={},
        connect_timeout=5, read_timeout=35,
    )  # fmt: skip
    assert ok.read_timeout == 35
