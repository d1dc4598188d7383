"""GET /v1/orders/{id} (cached in Redis) and GET /v1/orders (filters, cursor pagination)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orders import services
from orders.models import Order
from tests.customers.factories import CustomerFactory
from tests.orders.conftest import error_of
from tests.orders.factories import OrderFactory


def test_retrieve_returns_the_order(secret_client, create_order):
    created = create_order()

    response = secret_client.get(f"/v1/orders/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


def test_another_merchants_order_is_a_404(secret_client, other_merchant_keys):
    foreign = OrderFactory(merchant_id=other_merchant_keys.merchant_id)

    response = secret_client.get(f"/v1/orders/{foreign.id}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"


def test_another_merchants_cached_order_is_still_a_404(secret_client, other_merchant_keys):
    # given the order is in the cache because its own merchant read it
    foreign = OrderFactory(merchant_id=other_merchant_keys.merchant_id)
    assert other_merchant_keys.client().get(f"/v1/orders/{foreign.id}").status_code == 200

    # when another merchant asks for it, then the cache does not leak it
    assert secret_client.get(f"/v1/orders/{foreign.id}").status_code == 404


def test_unknown_order_is_a_404(secret_client):
    assert secret_client.get("/v1/orders/ord_nope").status_code == 404


def test_retrieve_is_served_from_the_cache(secret_client, create_order, django_assert_num_queries):
    order_id = create_order()["id"]
    secret_client.get(f"/v1/orders/{order_id}")  # fills the cache (and the API key cache)

    with django_assert_num_queries(0):
        response = secret_client.get(f"/v1/orders/{order_id}")

    assert response.status_code == 200
    assert response.json()["id"] == order_id


def test_cache_is_invalidated_by_an_api_change(secret_client, create_order, django_capture_on_commit_callbacks):
    order_id = create_order()["id"]
    assert secret_client.get(f"/v1/orders/{order_id}").json()["status"] == "pending"

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        assert secret_client.post(f"/v1/orders/{order_id}/cancel").status_code == 200

    assert secret_client.get(f"/v1/orders/{order_id}").json()["status"] == "canceled"


@pytest.mark.django_db(transaction=True)
def test_cache_is_invalidated_when_payments_mark_the_order_paid(merchant_keys, customer):
    # given a cached pending order
    client = merchant_keys.client()
    order = OrderFactory(customer=customer)
    assert client.get(f"/v1/orders/{order.id}").json()["amount_paid"] == 0

    # when the payments app records a payment through the service (not through this API)
    with transaction.atomic():
        locked = services.order_lock(merchant_id=order.merchant_id, order_id=order.id)
        services.order_mark_paid(order=locked, amount=order.total)

    # then the next read shows it
    body = client.get(f"/v1/orders/{order.id}").json()
    assert (body["status"], body["amount_paid"], body["amount_outstanding"]) == ("paid", order.total, 0)


@pytest.mark.django_db(transaction=True)
def test_a_reader_racing_a_writer_cannot_leave_a_stale_entry(merchant_keys, customer):
    """The old row read before a commit is stored under a token nobody looks up after it."""
    from orders.cache import order_cache_read

    order = OrderFactory(customer=customer)
    client = merchant_keys.client()

    def slow_load():
        stale = {"id": order.id, "status": "pending"}  # what the reader saw before the writer
        with transaction.atomic():
            locked = services.order_lock(merchant_id=order.merchant_id, order_id=order.id)
            services.order_mark_paid(order=locked, amount=order.total)
        return stale

    # when the writer commits while the reader holds its (old) data
    order_cache_read(merchant_id=order.merchant_id, order_id=order.id, load=slow_load)

    # then the next read goes to the database
    assert client.get(f"/v1/orders/{order.id}").json()["status"] == "paid"


def test_retrieve_falls_back_to_the_database_when_redis_is_down(secret_client, create_order, settings):
    order_id = create_order()["id"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
        }
    }

    response = secret_client.get(f"/v1/orders/{order_id}")

    assert response.status_code == 200
    assert response.json()["id"] == order_id


# --- list -------------------------------------------------------------------------------------


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [order["id"] for order in response.json()["data"]]


def test_list_is_newest_first_and_only_this_merchants(secret_client, merchant, other_merchant_keys):
    older = OrderFactory(merchant=merchant)
    newer = OrderFactory(merchant=merchant)
    OrderFactory(merchant_id=other_merchant_keys.merchant_id)

    response = secret_client.get("/v1/orders")

    assert _ids(response) == [newer.id, older.id]
    assert response.json()["object"] == "list"
    assert response.json()["has_more"] is False
    assert response.json()["data"][0]["lines"][0]["sku"] == "SKU-1"


def test_list_pages_with_cursors(secret_client, merchant):
    orders = [OrderFactory(merchant=merchant) for _ in range(5)]
    newest_first = [o.id for o in reversed(orders)]

    first = secret_client.get("/v1/orders", {"limit": 2})
    second = secret_client.get("/v1/orders", {"limit": 2, "starting_after": _ids(first)[-1]})
    back = secret_client.get("/v1/orders", {"limit": 2, "ending_before": _ids(second)[0]})

    assert _ids(first) == newest_first[:2] and first.json()["has_more"] is True
    assert _ids(second) == newest_first[2:4]
    assert _ids(back) == newest_first[:2]


def test_list_filters_by_status_and_customer(secret_client, merchant):
    ada = CustomerFactory(merchant=merchant)
    bob = CustomerFactory(merchant=merchant)
    ada_pending = OrderFactory(customer=ada)
    ada_paid = OrderFactory(customer=ada, status="paid")
    bob_paid = OrderFactory(customer=bob, status="paid")

    assert _ids(secret_client.get("/v1/orders", {"status": "paid"})) == [bob_paid.id, ada_paid.id]
    assert _ids(secret_client.get("/v1/orders", {"customer": ada.id})) == [ada_paid.id, ada_pending.id]
    assert _ids(secret_client.get("/v1/orders", {"customer": ada.id, "status": "pending"})) == [ada_pending.id]


def test_list_filters_by_created_range(secret_client, merchant):
    now = timezone.now()
    old = OrderFactory(merchant=merchant)
    mid = OrderFactory(merchant=merchant)
    new = OrderFactory(merchant=merchant)
    Order.objects.filter(id=old.id).update(created=now - timedelta(days=10))
    Order.objects.filter(id=mid.id).update(created=now - timedelta(days=5))
    Order.objects.filter(id=new.id).update(created=now)
    six_days_ago = int((now - timedelta(days=6)).timestamp())
    four_days_ago = int((now - timedelta(days=4)).timestamp())

    assert _ids(secret_client.get("/v1/orders", {"created[gte]": six_days_ago})) == [new.id, mid.id]
    assert _ids(secret_client.get("/v1/orders", {"created[lte]": four_days_ago})) == [mid.id, old.id]
    in_range = {"created[gte]": six_days_ago, "created[lte]": four_days_ago}
    assert _ids(secret_client.get("/v1/orders", in_range)) == [mid.id]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"status": "shipped"}, "status"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"created[lte]": "1.5"}, "created[lte]"),
        ({"created[gte]": str(10**20)}, "created[gte]"),
        ({"limit": 0}, "limit"),
    ],
)
def test_list_rejects_bad_filters(secret_client, params, param):
    response = secret_client.get("/v1/orders", params)

    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_list_stays_within_its_query_budget(secret_client, merchant, django_assert_max_num_queries):
    for _ in range(10):
        OrderFactory(merchant=merchant, lines=[{"sku": "A", "unit_amount": 1}, {"sku": "B", "unit_amount": 2}])
    secret_client.get("/v1/account")  # warm the API key cache

    with django_assert_max_num_queries(2):  # orders page + its lines, whatever the page size
        response = secret_client.get("/v1/orders", {"limit": 10})

    assert len(response.json()["data"]) == 10
