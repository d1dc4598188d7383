"""Redis caching of GET /v1/customers/{id} and GET /v1/me: hits, invalidation on every write path
(the generational token rotates when the change commits), and a dead Redis degrading to the
database."""

import pytest

from customers.models import Customer
from customers.services import customer_erase
from tests.customers.conftest import login
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

pytestmark = pytest.mark.django_db


def test_retrieve_is_served_from_the_cache(secret_client, merchant_keys, django_assert_num_queries):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Ada")
    secret_client.get(f"/v1/customers/{customer.id}")
    # A change behind the services' back (no invalidation) is not seen: the answer is cached.
    Customer.objects.filter(pk=customer.pk).update(name="Changed in SQL")

    with django_assert_num_queries(0):
        response = secret_client.get(f"/v1/customers/{customer.id}")

    assert response.json()["name"] == "Ada"


def test_me_is_served_from_the_cache(merchant_keys, password, django_assert_num_queries):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    client.get("/v1/me")
    Customer.objects.filter(pk=client.customer_id).update(name="Changed in SQL")

    with django_assert_num_queries(0):  # token resolution and profile both from the cache
        response = client.get("/v1/me")

    assert response.json()["name"] == ""


def test_cold_retrieve_query_budget(secret_client, merchant_keys, django_assert_max_num_queries):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)

    with django_assert_max_num_queries(3):  # API key, last-used touch, customer
        assert secret_client.get(f"/v1/customers/{customer.id}").status_code == 200


def test_cold_me_query_budget(merchant_keys, password, django_assert_max_num_queries):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    from django.core.cache import cache

    cache.delete_pattern("*")

    with django_assert_max_num_queries(2):  # session by token hash, customer
        assert client.get("/v1/me").status_code == 200


def test_no_stale_read_after_patch(secret_client, merchant_keys, django_capture_on_commit_callbacks):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Before")
    assert secret_client.get(f"/v1/customers/{customer.id}").json()["name"] == "Before"

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        secret_client.patch(f"/v1/customers/{customer.id}", {"name": "After"}, format="json")

    assert secret_client.get(f"/v1/customers/{customer.id}").json()["name"] == "After"


def test_merchant_patch_and_me_patch_invalidate_both_views(
    secret_client, merchant_keys, password, django_capture_on_commit_callbacks
):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    path = f"/v1/customers/{client.customer_id}"
    secret_client.get(path), client.get("/v1/me")

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        secret_client.patch(path, {"name": "From merchant"}, format="json")
    assert client.get("/v1/me").json()["name"] == "From merchant"
    assert secret_client.get(path).json()["name"] == "From merchant"

    with django_capture_on_commit_callbacks(execute=True):
        client.patch("/v1/me", {"name": "From customer"}, format="json")
    assert secret_client.get(path).json()["name"] == "From customer"
    assert client.get("/v1/me").json()["name"] == "From customer"


def test_erasure_invalidates_cached_reads(secret_client, merchant_keys, django_capture_on_commit_callbacks):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com")
    secret_client.get(f"/v1/customers/{customer.id}")

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        customer_erase(merchant_id=merchant_keys.merchant_id, customer_id=customer.id)

    body = secret_client.get(f"/v1/customers/{customer.id}").json()
    assert (body["email"], body["deleted"]) == (None, True)


# --- Redis unavailable ------------------------------------------------------------------------------


def test_merchant_endpoints_work_with_redis_down(secret_client, merchant_keys, redis_down):
    created = secret_client.post("/v1/customers", {"email": "ada@example.com", "name": "Ada"}, format="json")
    assert created.status_code == 201, created.content
    path = f"/v1/customers/{created.json()['id']}"

    first = secret_client.get(path)
    secret_client.patch(path, {"name": "Ada L."}, format="json")
    second = secret_client.get(path)

    assert (first.status_code, first.json()["name"]) == (200, "Ada")
    assert (second.status_code, second.json()["name"]) == (200, "Ada L.")
    assert Customer.objects.get(pk=created.json()["id"]).name == "Ada L."


def test_login_me_and_logout_work_with_redis_down(merchant_keys, password, redis_down):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    response = login(merchant_keys.client("publishable"), email="ada@example.com", password=password)
    assert response.status_code == 200, response.content
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")

    assert client.get("/v1/me").json()["email"] == "ada@example.com"
    assert client.patch("/v1/me", {"name": "Ada"}, format="json").json()["name"] == "Ada"
    assert client.get("/v1/me").json()["name"] == "Ada"
    assert client.post("/v1/auth/logout", {}, format="json").status_code == 200
    assert client.get("/v1/me").status_code == 401


def test_lockout_still_applies_with_redis_down(merchant_keys, password, redis_down):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    publishable = merchant_keys.client("publishable")

    for _ in range(10):
        login(publishable, email="ada@example.com", password="wrong password!!")

    assert login(publishable, email="ada@example.com", password=password).status_code == 401
    customer.refresh_from_db()
    assert customer.locked_until is not None
