"""Merchant API: POST/GET/PATCH/DELETE /v1/customers (secret key)."""

import pytest
from django.contrib.auth.hashers import check_password

from customers.models import Customer, CustomerSession
from tests.customers.conftest import error_of, login
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

pytestmark = pytest.mark.django_db

SECURITY_KEYS = {"password", "failed_login_count", "locked_until", "erased_at", "sessions", "merchant"}


# --- create -----------------------------------------------------------------------------------


def test_create_returns_customer_and_stores_it(secret_client, merchant_keys):
    response = secret_client.post(
        "/v1/customers",
        {"email": "Ada@Example.com", "name": "Ada", "phone": "+14155550123", "metadata": {"crm": "42"}},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["object"] == "customer"
    assert body["id"].startswith("cus_")
    assert body["email"] == "Ada@Example.com"
    assert body["metadata"] == {"crm": "42"}
    assert body["deleted"] is False
    assert isinstance(body["created"], int)
    assert not SECURITY_KEYS & set(body)
    row = Customer.objects.get(pk=body["id"])
    assert row.merchant_id == merchant_keys.merchant_id
    assert (row.name, row.phone, row.password) == ("Ada", "+14155550123", "")


def test_create_with_password_stores_argon2_hash_never_the_password(secret_client):
    response = secret_client.post(
        "/v1/customers", {"email": "ada@example.com", "password": "a long enough passphrase"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert "password" not in response.json()
    row = Customer.objects.get(pk=response.json()["id"])
    assert row.password.startswith("argon2")
    assert "a long enough passphrase" not in row.password
    assert check_password("a long enough passphrase", row.password)


@pytest.mark.parametrize(
    "password",
    ["short pass1", "123456789012345", "qwerty123456"],
    ids=["under-12", "numeric", "common"],
)
def test_create_rejects_weak_password_and_writes_nothing(secret_client, password):
    response = secret_client.post("/v1/customers", {"email": "ada@example.com", "password": password}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("password_invalid", "password")
    assert not Customer.objects.exists()


def test_create_rejects_password_similar_to_email(secret_client):
    response = secret_client.post(
        "/v1/customers", {"email": "margaretthatcher@example.com", "password": "margaretthatcher"}, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "password_invalid"


def test_duplicate_email_any_case_is_409_customer_exists(secret_client):
    first = secret_client.post("/v1/customers", {"email": "ada@example.com"}, format="json")
    assert first.status_code == 201

    second = secret_client.post("/v1/customers", {"email": "ADA@example.COM"}, format="json")

    assert second.status_code == 409
    error = error_of(second)
    assert (error["code"], error["param"]) == ("customer_exists", "email")
    assert Customer.objects.count() == 1


def test_same_email_at_two_merchants_is_allowed(merchant_keys, other_merchant_keys):
    for keys in (merchant_keys, other_merchant_keys):
        assert keys.client().post("/v1/customers", {"email": "ada@example.com"}, format="json").status_code == 201
    assert Customer.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "param", "code"),
    [
        ({}, "email", "parameter_missing"),
        ({"email": "not-an-email"}, "email", "parameter_invalid"),
        ({"email": "a@example.com", "phone": "4155550123"}, "phone", "parameter_invalid"),
        ({"email": "a@example.com", "phone": "+0123"}, "phone", "parameter_invalid"),
        ({"email": "a@example.com", "phone": "+1234567890123456"}, "phone", "parameter_invalid"),
        ({"email": "a@example.com", "metadata": ["a"]}, "metadata", "parameter_invalid"),
        ({"email": "a@example.com", "metadata": {"n": 1}}, "metadata", "parameter_invalid"),
        ({"email": "a@example.com", "metadata": {"k" * 41: "v"}}, "metadata", "parameter_invalid"),
        ({"email": "a@example.com", "metadata": {"k": "v" * 501}}, "metadata", "parameter_invalid"),
        ({"email": "a@example.com", "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "parameter_invalid"),
        ({"email": "a@example.com", "name": "n" * 201}, "name", "parameter_invalid"),
        ({"email": "a@example.com", "id": "cus_mine"}, "id", "parameter_invalid"),
        ({"email": "a@example.com", "merchant": "mer_x"}, "merchant", "parameter_invalid"),
        ({"email": "a@example.com", "failed_login_count": 0}, "failed_login_count", "parameter_invalid"),
    ],
)
def test_create_validation_errors_in_the_error_shape(secret_client, payload, param, code):
    response = secret_client.post("/v1/customers", payload, format="json")

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert not Customer.objects.exists()


def test_metadata_limits_are_inclusive(secret_client):
    metadata = {f"{i:040d}": "v" * 500 for i in range(50)}

    response = secret_client.post("/v1/customers", {"email": "a@example.com", "metadata": metadata}, format="json")

    assert response.status_code == 201, response.content
    assert Customer.objects.get().metadata == metadata


def test_idempotent_create_replays_and_creates_once(secret_client):
    payload = {"email": "ada@example.com", "name": "Ada"}

    first = secret_client.post("/v1/customers", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = secret_client.post("/v1/customers", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Customer.objects.count() == 1


# --- retrieve and list ---------------------------------------------------------------------------


def test_retrieve(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", name="Ada")

    response = secret_client.get(f"/v1/customers/{customer.id}")

    assert response.status_code == 200
    assert response.json()["id"] == customer.id
    assert response.json()["name"] == "Ada"


def test_retrieve_unknown_is_404(secret_client):
    response = secret_client.get("/v1/customers/cus_doesnotexist")

    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"


def test_list_pages_newest_first_with_cursor(secret_client, merchant_keys):
    ids = [CustomerFactory(merchant_id=merchant_keys.merchant_id).id for _ in range(5)]
    newest_first = sorted(ids, reverse=True)  # ids are time-sortable; same-millisecond ones by their random part

    page1 = secret_client.get("/v1/customers?limit=2").json()
    page2 = secret_client.get(f"/v1/customers?limit=2&starting_after={page1['data'][-1]['id']}").json()
    page3 = secret_client.get(f"/v1/customers?limit=2&starting_after={page2['data'][-1]['id']}").json()
    back = secret_client.get(f"/v1/customers?limit=2&ending_before={page2['data'][0]['id']}").json()

    assert page1["object"] == "list"
    assert [c["id"] for c in page1["data"]] == newest_first[:2]
    assert [c["id"] for c in page2["data"]] == newest_first[2:4]
    assert [c["id"] for c in page3["data"]] == newest_first[4:]
    assert (page1["has_more"], page2["has_more"], page3["has_more"]) == (True, True, False)
    assert [c["id"] for c in back["data"]] == newest_first[:2]


def test_list_filters_by_email_case_insensitively(secret_client, merchant_keys):
    wanted = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="Ada@Example.com")
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="bob@example.com")

    response = secret_client.get("/v1/customers", {"email": "ada@example.COM"})

    assert [c["id"] for c in response.json()["data"]] == [wanted.id]


def test_list_rejects_bad_limit(secret_client):
    response = secret_client.get("/v1/customers?limit=0")

    assert response.status_code == 400
    assert error_of(response)["param"] == "limit"


def test_list_query_count_does_not_grow_with_page_size(secret_client, merchant_keys, django_assert_max_num_queries):
    for _ in range(20):
        CustomerFactory(merchant_id=merchant_keys.merchant_id)
    secret_client.get("/v1/customers?limit=1")  # warm the API-key cache

    with django_assert_max_num_queries(1):
        response = secret_client.get("/v1/customers?limit=20")

    assert len(response.json()["data"]) == 20


# --- update --------------------------------------------------------------------------------------


def test_patch_changes_profile_fields(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, metadata={"old": "1"})

    response = secret_client.patch(
        f"/v1/customers/{customer.id}",
        {"name": "New Name", "phone": "+442071838750", "email": "new@example.com", "metadata": {"new": "2"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "New Name"
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.email) == ("New Name", "+442071838750", "new@example.com")
    assert customer.metadata == {"new": "2"}


def test_patch_only_touches_given_fields(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Ada", phone="+14155550123")

    secret_client.patch(f"/v1/customers/{customer.id}", {"name": "Ada L."}, format="json")

    customer.refresh_from_db()
    assert (customer.name, customer.phone) == ("Ada L.", "+14155550123")


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "merchant",
        "merchant_id",
        "created",
        "updated",
        "password",
        "failed_login_count",
        "locked_until",
        "erased_at",
    ],
)
def test_patch_refuses_mass_assignment(secret_client, merchant_keys, field):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Ada", password="original password 1")
    before = Customer.objects.filter(pk=customer.pk).values().get()

    response = secret_client.patch(f"/v1/customers/{customer.id}", {field: "x", "name": "Changed"}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == field
    assert Customer.objects.filter(pk=customer.pk).values().get() == before


def test_patch_to_an_email_in_use_is_409(secret_client, merchant_keys):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="taken@example.com")
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="mine@example.com")

    response = secret_client.patch(f"/v1/customers/{customer.id}", {"email": "TAKEN@example.com"}, format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "customer_exists"
    customer.refresh_from_db()
    assert customer.email == "mine@example.com"


def test_patch_invalid_phone_is_400_and_unchanged(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, phone="+14155550123")

    response = secret_client.patch(f"/v1/customers/{customer.id}", {"phone": "call me"}, format="json")

    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.phone == "+14155550123"


# --- erasure -------------------------------------------------------------------------------------


def test_delete_erases_personal_data_but_keeps_the_row(secret_client, merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    secret_client.patch(
        f"/v1/customers/{client.customer_id}",
        {"name": "Ada", "phone": "+14155550123", "metadata": {"note": "vip"}},
        format="json",
    )

    response = secret_client.delete(f"/v1/customers/{client.customer_id}")

    assert response.status_code == 200
    assert response.json() == {"id": client.customer_id, "object": "customer", "deleted": True}
    row = Customer.objects.get(pk=client.customer_id)
    assert (row.email, row.name, row.phone, row.metadata, row.password) == (None, "", "", {}, "")
    assert row.erased_at is not None
    assert not CustomerSession.objects.filter(customer_id=client.customer_id).exists()


def test_after_erasure_no_login_no_session_and_email_reusable(secret_client, merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)

    secret_client.delete(f"/v1/customers/{client.customer_id}")

    assert client.get("/v1/me").status_code == 401
    relogin = login(merchant_keys.client("publishable"), email="ada@example.com", password=password)
    assert relogin.status_code == 401
    reused = secret_client.post("/v1/customers", {"email": "ada@example.com"}, format="json")
    assert reused.status_code == 201
    assert reused.json()["id"] != client.customer_id


def test_erased_customer_reads_as_deleted_and_is_not_listed(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    secret_client.delete(f"/v1/customers/{customer.id}")

    retrieved = secret_client.get(f"/v1/customers/{customer.id}").json()
    listed = secret_client.get("/v1/customers").json()["data"]

    assert (retrieved["deleted"], retrieved["email"], retrieved["name"]) == (True, None, "")
    assert customer.id not in [c["id"] for c in listed]


def test_delete_twice_is_harmless_and_patch_after_delete_is_404(secret_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    secret_client.delete(f"/v1/customers/{customer.id}")
    erased_at = Customer.objects.get(pk=customer.pk).erased_at

    again = secret_client.delete(f"/v1/customers/{customer.id}")
    patch = secret_client.patch(f"/v1/customers/{customer.id}", {"name": "Back"}, format="json")

    assert again.status_code == 200
    assert patch.status_code == 404
    row = Customer.objects.get(pk=customer.pk)
    assert (row.erased_at, row.name) == (erased_at, "")
