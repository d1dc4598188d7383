import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from merchants.models import ApiKey, Merchant
from merchants.services import api_key_create, api_key_revoke
from tests.conftest import MerchantKeys

pytestmark = [pytest.mark.django_db]


def test_create_merchant_command_prints_working_keys_as_json(capsys, api_client):
    # When finance/ops create a merchant from the command line
    call_command("create_merchant", "--name", "Acme", "--json")
    created = json.loads(capsys.readouterr().out)
    # Then it prints one JSON object with the ids and keys
    assert set(created) == {"merchant_id", "secret_key", "publishable_key"}
    assert created["merchant_id"].startswith("mer_")
    assert created["secret_key"].startswith("sk_test_")
    assert created["publishable_key"].startswith("pk_test_")
    assert Merchant.objects.get(id=created["merchant_id"]).name == "Acme"
    # And the keys authenticate
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['secret_key']}")
    assert api_client.get("/v1/account").json()["id"] == created["merchant_id"]


def test_only_a_hash_and_prefix_are_stored(merchant_keys: MerchantKeys):
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM merchants_apikey k")
        rows = " ".join(r[0] for r in cursor.fetchall())
    assert merchant_keys.secret_key not in rows
    assert merchant_keys.publishable_key not in rows
    key = ApiKey.objects.get(merchant_id=merchant_keys.merchant_id, kind="secret")
    assert merchant_keys.secret_key.startswith(key.prefix) and len(key.prefix) == len("sk_test_") + 4


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer sk_test_doesnotexist", "Basic c2s6", "Bearer pk_live_nope", "Token abc"],
)
def test_missing_or_wrong_key_is_401(api_client, merchant_keys, header):
    response = api_client.get("/v1/account", HTTP_AUTHORIZATION=header) if header else api_client.get("/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_401_immediately_even_when_cached(merchant_keys, secret_client):
    assert secret_client.get("/v1/account").status_code == 200  # principal now cached
    api_key_revoke(api_key=ApiKey.objects.get(merchant_id=merchant_keys.merchant_id, kind="secret"))
    response = secret_client.get("/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_publishable_key_on_secret_only_endpoint_is_403(publishable_client):
    response = publishable_client.get("/v1/account")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


@pytest.mark.urls("tests.gateway.probe_urls")
def test_publishable_endpoint_accepts_publishable_key(publishable_client):
    assert publishable_client.get("/v1/probe/publishable").json() == {"kind": "publishable"}


def test_last_used_is_recorded_without_a_write_on_every_request(merchant_keys, secret_client):
    key = ApiKey.objects.get(merchant_id=merchant_keys.merchant_id, kind="secret")
    assert key.last_used_at is None
    secret_client.get("/v1/account")
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    with CaptureQueriesContext(connection) as queries:
        secret_client.get("/v1/account")
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    key.refresh_from_db()
    assert key.last_used_at == first_use


def test_live_keys_have_live_prefixes(merchant_keys):
    merchant = Merchant.objects.get(id=merchant_keys.merchant_id)
    created = api_key_create(merchant=merchant, kind="secret", livemode=True)
    assert created.raw_key.startswith("sk_live_")


def test_inactive_merchant_keys_stop_working(merchant_keys, secret_client):
    Merchant.objects.filter(id=merchant_keys.merchant_id).update(is_active=False)
    assert secret_client.get("/v1/account").status_code == 401
