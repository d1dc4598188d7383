"""Tenant isolation and what each kind of credential may reach."""

import pytest

from customers.models import Customer
from tests.customers.conftest import error_of, login
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

pytestmark = pytest.mark.django_db


def test_merchant_b_cannot_see_or_change_merchant_a_customers(merchant_keys, other_merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Ada", email="ada@example.com")
    merchant_keys.client().get(f"/v1/customers/{customer.id}")  # A's read is now cached
    b = other_merchant_keys.client()

    responses = [
        b.get(f"/v1/customers/{customer.id}"),
        b.patch(f"/v1/customers/{customer.id}", {"name": "Mallory"}, format="json"),
        b.delete(f"/v1/customers/{customer.id}"),
    ]
    listed = b.get("/v1/customers").json()["data"]
    filtered = b.get("/v1/customers", {"email": "ada@example.com"}).json()["data"]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert {error_of(r)["code"] for r in responses} == {"resource_missing"}
    assert listed == filtered == []
    row = Customer.objects.get(pk=customer.pk)
    assert (row.name, row.email, row.erased_at) == ("Ada", "ada@example.com", None)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/customers"),
        ("post", "/v1/customers"),
        ("get", "/v1/customers/{id}"),
        ("patch", "/v1/customers/{id}"),
        ("delete", "/v1/customers/{id}"),
        ("get", "/v1/account"),
        ("post", "/v1/auth/login"),
    ],
)
def test_customer_token_on_merchant_endpoints_is_403(merchant_keys, password, method, path):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)

    response = getattr(client, method)(path.format(id=client.customer_id), {"email": "x@example.com"}, format="json")

    assert response.status_code == 403
    assert error_of(response)["type"] == "permission_error"
    assert Customer.objects.get(pk=client.customer_id).erased_at is None
    assert Customer.objects.count() == 1


def test_publishable_key_cannot_use_merchant_or_me_endpoints(publishable_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)

    assert publishable_client.get(f"/v1/customers/{customer.id}").status_code == 403
    assert publishable_client.get("/v1/customers").status_code == 403
    assert publishable_client.get("/v1/me").status_code == 403
    assert publishable_client.post("/v1/auth/logout", {}, format="json").status_code == 403


def test_customer_of_a_cannot_log_in_at_b(merchant_keys, other_merchant_keys, password):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    CustomerFactory(merchant_id=other_merchant_keys.merchant_id, email="ada@example.com", password="b's own passphrase")

    at_b = login(other_merchant_keys.client("publishable"), email="ada@example.com", password=password)

    assert at_b.status_code == 401


def test_token_of_merchant_a_is_bound_to_a(merchant_keys, other_merchant_keys, password):
    a_customer = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    b_customer = customer_client(merchant_keys=other_merchant_keys, email="ada@example.com", password=password)

    me = a_customer.get("/v1/me").json()

    # Same email at both merchants, yet A's token only ever reaches A's customer.
    assert me["id"] == a_customer.customer_id != b_customer.customer_id
    assert a_customer.get(f"/v1/customers/{b_customer.customer_id}").status_code == 403
    a_customer.patch("/v1/me", {"name": "Changed at A"}, format="json")
    assert Customer.objects.get(pk=b_customer.customer_id).name == ""
    # Logging out everywhere at A leaves B's session alone.
    a_customer.post("/v1/auth/logout", {"all": True}, format="json")
    assert b_customer.get("/v1/me").status_code == 200
