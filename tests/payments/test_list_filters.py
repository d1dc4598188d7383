"""Issue 13: a client that lost track of a payment finds it, by its metadata (Stripe-style
``metadata[key]=value``) or by the Idempotency-Key of the request that created it; tenant-scoped."""

import pytest
from django.db import connection

from tests.conftest import make_merchant_keys

pytestmark = pytest.mark.django_db


def create(client, key: str | None = None, **metadata):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(
        "/v1/payments", {"amount": 700, "currency": "usd", "metadata": metadata}, format="json", **headers
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def listed(client, query: str) -> list[str]:
    response = client.get(f"/v1/payments?{query}")
    assert response.status_code == 200, response.content
    return [p["id"] for p in response.json()["data"]]


def test_metadata_filter_matches_every_pair_given(secret_client):
    a = create(secret_client, order_ref="A-17", channel="web")
    b = create(secret_client, order_ref="A-17", channel="shop")
    create(secret_client, order_ref="B-2", channel="web")

    assert listed(secret_client, "metadata[order_ref]=A-17") == [b, a]
    assert listed(secret_client, "metadata[order_ref]=A-17&metadata[channel]=web") == [a]
    assert listed(secret_client, "metadata[order_ref]=nope") == []
    assert listed(secret_client, "metadata[order_ref]=A-17&status=requires_payment_method&limit=1") == [b]


def test_idempotency_key_filter_finds_the_payment_the_request_created(secret_client):
    created = create(secret_client, key="lost-answer-1")
    create(secret_client, key="other-key")
    create(secret_client)

    assert listed(secret_client, "idempotency_key=lost-answer-1") == [created]
    assert listed(secret_client, "idempotency_key=never-used") == []


def test_filters_are_tenant_scoped(secret_client, merchant_keys):
    mine = create(secret_client, key="shared-key", order_ref="X")
    other = make_merchant_keys("Globex").client()
    theirs = create(other, key="shared-key", order_ref="X")

    assert listed(secret_client, "metadata[order_ref]=X") == [mine]
    assert listed(secret_client, "idempotency_key=shared-key") == [mine]
    assert listed(other, "metadata[order_ref]=X") == [theirs]
    assert listed(other, "idempotency_key=shared-key") == [theirs]


@pytest.mark.parametrize(
    "query,param",
    [
        ("metadata[]=x", "metadata[]"),
        (f"metadata[{'k' * 41}]=x", f"metadata[{'k' * 41}]"),
        (f"metadata[k]={'v' * 501}", "metadata[k]"),
        ("metadata[k]=1&metadata[k]=2", "metadata[k]"),
        (f"idempotency_key={'k' * 256}", "idempotency_key"),
        ("idempotency_key=", "idempotency_key"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(secret_client, query, param):
    response = secret_client.get(f"/v1/payments?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_filtered_list_stays_within_one_query(secret_client, django_assert_max_num_queries):
    for i in range(5):
        create(secret_client, key=f"k-{i}", order_ref="same")
    secret_client.get("/v1/payments?limit=1")  # the API key resolution cached, as in steady state
    with django_assert_max_num_queries(1):
        assert len(listed(secret_client, "metadata[order_ref]=same&limit=10")) == 5
    with django_assert_max_num_queries(1):
        assert len(listed(secret_client, "idempotency_key=k-3")) == 1


def test_metadata_and_key_lookups_are_indexed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'payments_payment'")
        indexes = dict(cursor.fetchall())
    assert "gin (metadata jsonb_path_ops)" in indexes["pay_metadata_gin"]
    assert "(merchant_id, idempotency_key)" in indexes["pay_merchant_idem_key"]


def test_the_filters_are_in_the_openapi_schema(api_client):
    schema = api_client.get("/v1/openapi.json")
    parameters = {p["name"]: p for p in schema.json()["paths"]["/v1/payments"]["get"]["parameters"]}
    assert parameters["metadata"]["style"] == "deepObject" and parameters["metadata"]["explode"] is True
    assert "idempotency_key" in parameters
