import time

import pytest

from events.models import WebhookEndpoint
from events.signing import secret_open

URL = "https://93.184.216.34/hooks"


def _create(client, **overrides):
    body = {"url": URL, "enabled_events": ["payment.succeeded", "refund.created"], "description": "main"}
    body.update(overrides)
    return client.post("/v1/webhook_endpoints", body, format="json")


def test_create_returns_the_secret_once_and_stores_it_encrypted(secret_client, merchant_keys):
    # When an endpoint is registered
    response = _create(secret_client)
    # Then the answer carries the secret, and the row holds only its ciphertext
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["object"] == "webhook_endpoint" and body["id"].startswith("we_")
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["enabled_events"] == ["payment.succeeded", "refund.created"]
    assert (body["url"], body["description"], body["enabled"], body["livemode"]) == (URL, "main", True, False)
    row = WebhookEndpoint.objects.get(id=body["id"])
    assert row.merchant_id == merchant_keys.merchant_id
    assert body["secret"] not in row.secret_encrypted
    assert secret_open(row.secret_encrypted) == body["secret"]
    # And no read shows it again
    one = secret_client.get(f"/v1/webhook_endpoints/{body['id']}").json()
    listed = secret_client.get("/v1/webhook_endpoints").json()
    assert "secret" not in one and all("secret" not in e for e in listed["data"])
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert body["secret"] not in str(one) + str(listed)


def test_an_idempotent_create_registers_one_endpoint(secret_client):
    first = secret_client.post(
        "/v1/webhook_endpoints", {"url": URL, "enabled_events": ["*"]}, format="json", HTTP_IDEMPOTENCY_KEY="we-1"
    )
    second = secret_client.post(
        "/v1/webhook_endpoints", {"url": URL, "enabled_events": ["*"]}, format="json", HTTP_IDEMPOTENCY_KEY="we-1"
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"enabled_events": ["*"]}, "parameter_missing", "url"),
        ({"url": URL}, "parameter_missing", "enabled_events"),
        ({"url": URL, "enabled_events": []}, "parameter_invalid", "enabled_events"),
        ({"url": URL, "enabled_events": ["payment.exploded"]}, "parameter_invalid", "enabled_events[0]"),
        ({"url": URL, "enabled_events": ["*", "order.paid"]}, "invalid_request", "enabled_events"),
        ({"url": URL, "enabled_events": "payment.succeeded"}, "parameter_invalid", "enabled_events"),
        ({"url": URL, "enabled_events": ["*"], "enabled": "maybe"}, "parameter_invalid", "enabled"),
        ({"url": "https://x" * 1000, "enabled_events": ["*"]}, "parameter_invalid", "url"),
    ],
)
def test_invalid_input_is_a_clear_400_and_creates_nothing(secret_client, body, code, param):
    response = secret_client.post("/v1/webhook_endpoints", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert not WebhookEndpoint.objects.exists()


def test_publishable_keys_may_not_manage_endpoints(publishable_client):
    assert publishable_client.get("/v1/webhook_endpoints").status_code == 403
    assert _create(publishable_client).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_update_changes_only_the_given_fields(secret_client):
    created = _create(secret_client).json()
    response = secret_client.patch(
        f"/v1/webhook_endpoints/{created['id']}", {"enabled": False, "enabled_events": ["*"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["enabled"], body["enabled_events"], body["description"], body["url"]) == (False, ["*"], "main", URL)
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert (row.enabled, row.enabled_events, row.description) == (False, ["*"], "main")
    bad = secret_client.patch(f"/v1/webhook_endpoints/{created['id']}", {"enabled_events": ["nope"]}, format="json")
    assert bad.status_code == 400
    assert WebhookEndpoint.objects.get(id=created["id"]).enabled_events == ["*"]


def test_delete_stops_the_endpoint_and_keeps_the_row(secret_client):
    created = _create(secret_client).json()
    response = secret_client.delete(f"/v1/webhook_endpoints/{created['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert secret_client.get(f"/v1/webhook_endpoints/{created['id']}").status_code == 404
    assert secret_client.delete(f"/v1/webhook_endpoints/{created['id']}").status_code == 404
    assert secret_client.get("/v1/webhook_endpoints").json()["data"] == []
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert row.deleted_at is not None and row.enabled is False


def test_rotate_secret_returns_a_new_secret_and_keeps_the_old_one_for_the_overlap(secret_client, settings):
    settings.WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS = 3600
    created = _create(secret_client).json()
    before = int(time.time())
    response = secret_client.post(f"/v1/webhook_endpoints/{created['id']}/rotate_secret", {}, format="json")
    after = int(time.time())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    # an hour after the rotation, which happened during the request (however long that took)
    assert before + 3600 <= body["previous_secret_expires_at"] <= after + 3600
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert secret_open(row.secret_encrypted) == body["secret"]
    assert secret_open(row.previous_secret_encrypted) == created["secret"]
    # An explicit overlap of 0 retires the old secret at once
    again = secret_client.post(
        f"/v1/webhook_endpoints/{created['id']}/rotate_secret", {"overlap_seconds": 0}, format="json"
    ).json()
    row.refresh_from_db()
    assert again["previous_secret_expires_at"] is None and row.previous_secret_encrypted is None
    assert secret_open(row.secret_encrypted) == again["secret"]
    too_long = secret_client.post(
        f"/v1/webhook_endpoints/{created['id']}/rotate_secret", {"overlap_seconds": 10**9}, format="json"
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "overlap_seconds"


def test_the_number_of_endpoints_is_bounded(secret_client, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT = 2
    assert _create(secret_client).status_code == 201
    assert _create(secret_client).status_code == 201
    response = _create(secret_client)
    assert response.status_code == 400 and response.json()["error"]["code"] == "webhook_endpoint_limit"
    assert WebhookEndpoint.objects.count() == 2


def test_another_merchant_sees_none_of_the_endpoints(secret_client, other_merchant_keys):
    created = _create(secret_client).json()
    other = other_merchant_keys.client()
    path = f"/v1/webhook_endpoints/{created['id']}"
    assert other.get("/v1/webhook_endpoints").json()["data"] == []
    assert other.get(path).status_code == 404
    assert other.patch(path, {"enabled": False}, format="json").status_code == 404
    assert other.post(f"{path}/rotate_secret", {}, format="json").status_code == 404
    assert other.delete(path).status_code == 404
    assert other.get(path).json()["error"]["code"] == "resource_missing"
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert row.enabled is True and row.deleted_at is None and row.previous_secret_encrypted is None


def test_list_pages_by_cursor(secret_client):
    ids = sorted(_create(secret_client).json()["id"] for _ in range(3))
    first = secret_client.get("/v1/webhook_endpoints", {"limit": 2}).json()
    assert [e["id"] for e in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    rest = secret_client.get("/v1/webhook_endpoints", {"limit": 2, "starting_after": first["data"][-1]["id"]}).json()
    assert [e["id"] for e in rest["data"]] == [ids[0]] and rest["has_more"] is False
