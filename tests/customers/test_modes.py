"""Test and live mode are separate worlds: a customer made with a test key is a 404 to a live key of
the same merchant (and the reverse), exactly like another merchant's customer."""

import pytest

from customers import selectors, services
from customers.cache import CUSTOMER_CACHE, customer_representation
from customers.models import Customer, CustomerSession
from gateway.errors import NotFound
from tests.customers.conftest import error_of, login
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client, live_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_secret(merchant_keys):
    return live_client(merchant_id=merchant_keys.merchant_id)


@pytest.fixture
def live_publishable(merchant_keys):
    return live_client(merchant_id=merchant_keys.merchant_id, kind="publishable")


# --- merchant API -------------------------------------------------------------------------------


def test_customer_created_with_test_key_is_404_to_live_key(secret_client, live_secret, merchant_keys):
    # given a customer created with the test key, whose representation is now cached
    created = secret_client.post("/v1/customers", {"email": "ada@example.com", "name": "Ada"}, format="json").json()
    assert secret_client.get(f"/v1/customers/{created['id']}").status_code == 200
    cached = CUSTOMER_CACHE.cached(
        object_id=created["id"], merchant_id=merchant_keys.merchant_id, livemode=False, view="api"
    )
    assert cached is not None and cached["id"] == created["id"]

    # when a live key of the same merchant reads, changes, erases and lists it
    responses = [
        live_secret.get(f"/v1/customers/{created['id']}"),
        live_secret.patch(f"/v1/customers/{created['id']}", {"name": "Mallory"}, format="json"),
        live_secret.delete(f"/v1/customers/{created['id']}"),
    ]
    listed = live_secret.get("/v1/customers").json()["data"]
    filtered = live_secret.get("/v1/customers", {"email": "ada@example.com"}).json()["data"]

    # then it is a 404 every time, the lists are empty and the row is untouched
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert {error_of(r)["code"] for r in responses} == {"resource_missing"}
    assert listed == filtered == []
    row = Customer.objects.get(pk=created["id"])
    assert (row.livemode, row.name, row.email, row.erased_at) == (False, "Ada", "ada@example.com", None)
    assert created["livemode"] is False


def test_customer_created_with_live_key_is_live_and_404_to_test_key(secret_client, live_secret):
    # given a customer created with the live key, read (and cached) by it
    response = live_secret.post("/v1/customers", {"email": "ada@example.com"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert live_secret.get(f"/v1/customers/{created['id']}").json()["livemode"] is True

    # when the test key asks for it, then it does not exist there
    assert secret_client.get(f"/v1/customers/{created['id']}").status_code == 404
    assert secret_client.patch(f"/v1/customers/{created['id']}", {"name": "X"}, format="json").status_code == 404
    assert secret_client.get("/v1/customers").json()["data"] == []
    row = Customer.objects.get(pk=created["id"])
    assert (row.livemode, row.name) == (True, "")


def test_lists_show_only_the_keys_mode(merchant_keys, secret_client, live_secret):
    test_customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    live_customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, livemode=True)

    test_ids = [c["id"] for c in secret_client.get("/v1/customers").json()["data"]]
    live_ids = [c["id"] for c in live_secret.get("/v1/customers").json()["data"]]

    assert (test_ids, live_ids) == ([test_customer.id], [live_customer.id])


def test_email_is_unique_per_merchant_and_mode(secret_client, live_secret):
    # given ada exists in test mode
    assert secret_client.post("/v1/customers", {"email": "ada@example.com"}, format="json").status_code == 201

    # when the same email is created in live mode, then it is a separate customer
    live = live_secret.post("/v1/customers", {"email": "ADA@example.com"}, format="json")
    assert live.status_code == 201, live.content

    # and a second one in either mode is a conflict
    again_live = live_secret.post("/v1/customers", {"email": "ada@example.com"}, format="json")
    again_test = secret_client.post("/v1/customers", {"email": "ada@EXAMPLE.com"}, format="json")
    assert (again_live.status_code, again_test.status_code) == (409, 409)
    assert error_of(again_live)["code"] == "customer_exists"
    assert sorted(Customer.objects.values_list("livemode", flat=True)) == [False, True]


def test_erasing_in_one_mode_leaves_the_other_alone(merchant_keys, secret_client, live_secret):
    test_customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com")
    live_customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", livemode=True)

    assert live_secret.delete(f"/v1/customers/{live_customer.id}").status_code == 200

    assert Customer.objects.get(pk=live_customer.pk).is_erased
    assert Customer.objects.get(pk=test_customer.pk).email == "ada@example.com"


# --- services and selectors (what other apps call) ------------------------------------------------


def test_selector_and_services_refuse_the_other_mode(merchant_keys):
    customer = services.customer_create(merchant_id=merchant_keys.merchant_id, email="ada@example.com", name="Ada")

    with pytest.raises(NotFound):
        selectors.customer_get(merchant_id=merchant_keys.merchant_id, customer_id=customer.id, livemode=True)
    with pytest.raises(NotFound):
        services.customer_update(
            merchant_id=merchant_keys.merchant_id, customer_id=customer.id, changes={"name": "X"}, livemode=True
        )
    with pytest.raises(NotFound):
        services.customer_erase(merchant_id=merchant_keys.merchant_id, customer_id=customer.id, livemode=True)
    assert list(selectors.customer_list(merchant_id=merchant_keys.merchant_id, livemode=True)) == []

    found = selectors.customer_get(merchant_id=merchant_keys.merchant_id, customer_id=customer.id)
    assert (found.id, found.livemode) == (customer.id, False)
    row = Customer.objects.get(pk=customer.pk)
    assert (row.name, row.erased_at) == ("Ada", None)


# --- customer sessions ----------------------------------------------------------------------------


def test_login_with_live_publishable_key_does_not_find_test_customer(merchant_keys, live_publishable, password):
    # given a test-mode customer with a password
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    # when they log in with the live publishable key
    response = login(live_publishable, email="ada@example.com", password=password)

    # then the email is unknown there: the usual 401, no session, and the test customer is untouched
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_credentials"
    assert not CustomerSession.objects.exists()
    assert Customer.objects.get(pk=customer.pk).failed_login_count == 0


def test_login_with_test_publishable_key_does_not_find_live_customer(merchant_keys, publishable_client, password):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password, livemode=True)

    response = login(publishable_client, email="ada@example.com", password=password)

    assert response.status_code == 401
    assert not CustomerSession.objects.exists()


def test_same_email_logs_into_the_customer_of_the_keys_mode(
    merchant_keys, publishable_client, live_publishable, password
):
    test_customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    live_customer = CustomerFactory(
        merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password, livemode=True
    )

    test_body = login(publishable_client, email="ada@example.com", password=password).json()
    live_body = login(live_publishable, email="ada@example.com", password=password).json()

    assert (test_body["customer"]["id"], test_body["livemode"]) == (test_customer.id, False)
    assert (live_body["customer"]["id"], live_body["livemode"]) == (live_customer.id, True)
    sessions = dict(CustomerSession.objects.values_list("customer_id", "livemode"))
    assert sessions == {test_customer.id: False, live_customer.id: True}


def test_live_session_principal_carries_the_customers_livemode(merchant_keys):
    # given a live customer logged in with a live publishable key
    client = customer_client(merchant_keys=merchant_keys, livemode=True)

    # when the token is resolved cold and then again from the cache
    cold = selectors.principal_for_session_token(raw_token=client.token)
    warm = selectors.principal_for_session_token(raw_token=client.token)

    # then the principal is live both times, and /v1/me answers the live customer
    assert (cold.livemode, warm.livemode, cold.customer_id) == (True, True, client.customer_id)
    me = client.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == client.customer_id
    assert CustomerSession.objects.get(pk=client.session_id).livemode is True


def test_cached_me_is_not_served_across_modes(merchant_keys):
    # given a test customer whose /v1/me is cached
    test_me = customer_client(merchant_keys=merchant_keys)
    assert test_me.get("/v1/me").status_code == 200
    owner = {"object_id": test_me.customer_id, "merchant_id": merchant_keys.merchant_id, "view": "me"}
    assert CUSTOMER_CACHE.cached(**owner, livemode=False)["id"] == test_me.customer_id
    assert CUSTOMER_CACHE.cached(**owner, livemode=True) is None

    # when the representation is read for the live mode
    loads = []

    def load():
        loads.append("database")
        return selectors.customer_get(
            merchant_id=merchant_keys.merchant_id, customer_id=test_me.customer_id, livemode=True
        )

    # then the test entry is not served: the database is asked, and it is a 404
    with pytest.raises(NotFound):
        customer_representation(
            merchant_id=merchant_keys.merchant_id,
            livemode=True,
            customer_id=test_me.customer_id,
            representation="me",
            load=load,
        )
    assert loads == ["database"]
