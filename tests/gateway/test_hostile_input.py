"""Hostile input gets a 4xx in the error shape, never a 500 (found by fuzzing the OpenAPI operations)."""

import pytest

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/payments/pay_%00",
        "/v1/customers/cus_%00x",
        "/v1/orders/ord_%00",
        "/v1/events/evt_%00",
        "/v1/webhook_endpoints/we_%00",
        "/v1/refunds/re_%00",
    ],
)
def test_null_character_in_an_id_is_404(secret_client, path):
    response = secret_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/payments?starting_after=%00",
        "/v1/customers?ending_before=%00",
        "/v1/orders?customer=%00",
        "/v1/refunds?payment=%00",
        "/v1/customers?email=a%00b",
        "/v1/events?type=a%00",
    ],
)
def test_null_character_in_a_query_parameter_is_400(secret_client, path):
    response = secret_client.get(path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/customers", {"email": "nul@example.com", "metadata": {"k": "v\u0000"}}),
        ("/v1/customers", {"email": "nul2@example.com", "metadata": {"k\u0000": "v"}}),
    ],
)
def test_null_character_in_metadata_is_400(secret_client, path, body):
    response = secret_client.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "metadata"


def test_deeply_nested_json_is_400(secret_client):
    body = b"[" * 100_000 + b"]" * 100_000
    response = secret_client.generic("POST", "/v1/payments", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("query", ["created[lte]=253402300799", "created[gt]=253402300799", "created=99999999999999"])
def test_events_created_filter_at_the_edge_of_time_is_400(secret_client, query):
    response = secret_client.get(f"/v1/events?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["/v1/orders?created[gte]=99999999999999", "/v1/payments?created[lte]=-99999999999999"]
)
def test_created_filters_out_of_range_are_400(secret_client, path):
    response = secret_client.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("created[")


def test_unknown_fields_on_webhook_endpoints_are_refused(secret_client):
    response = secret_client.post(
        "/v1/webhook_endpoints",
        {"url": "https://example.com/hook", "enabled_events": ["*"], "secret": "whsec_mine"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "secret"
