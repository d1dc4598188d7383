"""API responses are never stored by a browser or an intermediary cache: they carry secrets shown once
(a customer's ``cst_`` token, a webhook endpoint's signing secret) and personal data. Like Stripe's
API, every response says ``Cache-Control: no-store`` unless the view opted in to caching."""

import pytest

from customers.services import customer_create
from tests.customers.helpers import DEFAULT_PASSWORD

pytestmark = [pytest.mark.django_db]

WEBHOOK_URL = "https://93.184.216.34/hooks"  # an address literal: no DNS lookup in tests


def test_login_answer_with_the_session_token_is_no_store(merchant_keys):
    customer_create(merchant_id=merchant_keys.merchant_id, email="cc@example.com", password=DEFAULT_PASSWORD)

    response = merchant_keys.client("publishable").post(
        "/v1/auth/login", {"email": "cc@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200 and response.json()["token"].startswith("cst_")
    assert response["Cache-Control"] == "no-store"


def test_webhook_endpoint_secret_on_creation_and_rotation_is_no_store(secret_client):
    created = secret_client.post("/v1/webhook_endpoints", {"url": WEBHOOK_URL, "enabled_events": ["*"]}, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    assert created["Cache-Control"] == "no-store"

    rotated = secret_client.post(f"/v1/webhook_endpoints/{created.json()['id']}/rotate_secret", {}, format="json")

    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert rotated["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/customers", "/v1/account", "/v1/nowhere", "/healthz"])
def test_every_api_response_is_no_store_by_default(secret_client, path):
    response = secret_client.get(path)

    assert response["Cache-Control"] == "no-store"


def test_an_idempotent_replay_is_no_store_too(secret_client):
    body = {"url": WEBHOOK_URL, "enabled_events": ["*"]}
    secret_client.post("/v1/webhook_endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="cc-1")

    replay = secret_client.post("/v1/webhook_endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="cc-1")

    assert replay["Idempotent-Replayed"] == "true" and replay.json()["secret"].startswith("whsec_")
    assert replay["Cache-Control"] == "no-store"


def test_a_view_that_opts_in_to_caching_keeps_its_own_header(client):
    # The hosted checkout page's fingerprinted assets are immutable and public.
    from checkout.views.common import ASSETS

    response = client.get(f"/pay/assets/{sorted(ASSETS)[0]}")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
