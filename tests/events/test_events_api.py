from datetime import UTC, datetime

import pytest

from events.models import Delivery, Event
from gateway.context import idempotency_key_var, request_id_var

from .factories import WebhookEndpointFactory
from .helpers import record_event

T0 = 1_700_000_000


def _event_at(merchant_id: str, unix: int, type: str = "payment.succeeded", **kwargs) -> Event:
    event = record_event(merchant_id=merchant_id, type=type, **kwargs)
    Event.objects.filter(id=event.id).update(created=datetime.fromtimestamp(unix + 0.5, tz=UTC))
    return event


def test_an_event_reads_like_stripe(secret_client, merchant_keys):
    # Given an event caused by an API request with an idempotency key
    tokens = request_id_var.set("req_abc"), idempotency_key_var.set("idem-1")
    try:
        event = record_event(merchant_id=merchant_keys.merchant_id, data={"id": "pay_1", "object": "payment"})
    finally:
        request_id_var.reset(tokens[0])
        idempotency_key_var.reset(tokens[1])
    # When it is read
    response = secret_client.get(f"/v1/events/{event.id}")
    # Then it has the documented shape
    assert response.status_code == 200
    event.refresh_from_db()
    assert response.json() == {
        "id": event.id,
        "object": "event",
        "type": "payment.succeeded",
        "created": int(event.created.timestamp()),
        "livemode": False,
        "data": {"object": {"id": "pay_1", "object": "payment"}},
        "request": {"id": "req_abc", "idempotency_key": "idem-1"},
    }


def test_list_is_newest_first_and_pages_by_cursor(secret_client, merchant_keys):
    # ids sort by creation time (ties within one millisecond by their random part)
    ids = sorted(record_event(merchant_id=merchant_keys.merchant_id).id for _ in range(5))
    page = secret_client.get("/v1/events", {"limit": 3}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [e["id"] for e in page["data"]] == ids[::-1][:3]
    rest = secret_client.get("/v1/events", {"limit": 3, "starting_after": page["data"][-1]["id"]}).json()
    assert [e["id"] for e in rest["data"]] == ids[::-1][3:] and rest["has_more"] is False
    back = secret_client.get("/v1/events", {"limit": 3, "ending_before": rest["data"][0]["id"]}).json()
    assert [e["id"] for e in back["data"]] == ids[::-1][:3]


def test_list_filters_by_type_and_created(secret_client, merchant_keys):
    mid = merchant_keys.merchant_id
    early = _event_at(mid, T0, "payment.succeeded")
    middle = _event_at(mid, T0 + 100, "refund.created")
    late = _event_at(mid, T0 + 200, "payment.succeeded")

    def ids(**params):
        response = secret_client.get("/v1/events", params)
        assert response.status_code == 200, response.json()
        return [e["id"] for e in response.json()["data"]]

    assert ids(type="payment.succeeded") == [late.id, early.id]
    assert ids(type="refund.created") == [middle.id]
    assert ids(type="order.paid") == []
    assert ids(**{"created[gte]": T0 + 100}) == [late.id, middle.id]
    assert ids(**{"created[gt]": T0 + 100}) == [late.id]
    assert ids(**{"created[lte]": T0 + 100}) == [middle.id, early.id]
    assert ids(**{"created[lt]": T0 + 100}) == [early.id]
    assert ids(**{"created[gte]": T0 + 1, "created[lte]": T0 + 199}) == [middle.id]
    assert ids(created=T0 + 200) == [late.id]
    assert ids(type="payment.succeeded", **{"created[lte]": T0 + 150}) == [early.id]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"created[lte]": "-5"}, "created[lte]"),
        ({"created": "1.5"}, "created"),
        ({"limit": "0"}, "limit"),
        ({"type": "x" * 65}, "type"),
    ],
)
def test_bad_filters_are_a_400(secret_client, params, param):
    response = secret_client.get("/v1/events", params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_modes_are_separate(secret_client, merchant_keys):
    live = record_event(merchant_id=merchant_keys.merchant_id, livemode=True)
    assert secret_client.get("/v1/events").json()["data"] == []
    assert secret_client.get(f"/v1/events/{live.id}").status_code == 404


def test_another_merchant_sees_none_of_the_events(secret_client, merchant_keys, other_merchant_keys):
    event = record_event(merchant_id=merchant_keys.merchant_id)
    WebhookEndpointFactory(merchant_id=merchant_keys.merchant_id)
    other = other_merchant_keys.client()
    assert other.get("/v1/events").json()["data"] == []
    assert other.get("/v1/events", {"type": "payment.succeeded"}).json()["data"] == []
    assert other.get(f"/v1/events/{event.id}").status_code == 404
    assert other.post(f"/v1/events/{event.id}/resend", {}, format="json").status_code == 404
    assert not Delivery.objects.filter(is_resend=True).exists()
    # and merchant A's endpoint cannot be used by B for its own events either
    own = record_event(merchant_id=other_merchant_keys.merchant_id)
    endpoint = WebhookEndpointFactory(merchant_id=merchant_keys.merchant_id)
    response = other.post(f"/v1/events/{own.id}/resend", {"webhook_endpoint": endpoint.id}, format="json")
    assert response.status_code == 404 and response.json()["error"]["param"] == "webhook_endpoint"


def test_resend_through_the_api(secret_client, merchant_keys):
    mid = merchant_keys.merchant_id
    event = record_event(merchant_id=mid, type="refund.created")
    subscribed = WebhookEndpointFactory(merchant_id=mid, enabled_events=["refund.created"])
    WebhookEndpointFactory(merchant_id=mid, enabled_events=["order.paid"])
    disabled = WebhookEndpointFactory(merchant_id=mid, enabled=False)
    response = secret_client.post(f"/v1/events/{event.id}/resend", {}, format="json")
    assert response.status_code == 200, response.json()
    [delivery] = response.json()["data"]
    assert (delivery["object"], delivery["event"], delivery["webhook_endpoint"], delivery["status"]) == (
        "webhook_delivery",
        event.id,
        subscribed.id,
        "pending",
    )
    assert Delivery.objects.get(id=delivery["id"]).is_resend is True
    one = secret_client.post(f"/v1/events/{event.id}/resend", {"webhook_endpoint": subscribed.id}, format="json")
    assert [d["webhook_endpoint"] for d in one.json()["data"]] == [subscribed.id]
    refused = secret_client.post(f"/v1/events/{event.id}/resend", {"webhook_endpoint": disabled.id}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "webhook_endpoint_disabled"
    assert Delivery.objects.filter(event=event).count() == 2


def test_listing_events_costs_a_fixed_number_of_queries(secret_client, merchant_keys, django_assert_max_num_queries):
    for _ in range(20):
        record_event(merchant_id=merchant_keys.merchant_id)
    secret_client.get("/v1/events")  # warm the API-key cache
    with django_assert_max_num_queries(1):
        response = secret_client.get("/v1/events", {"limit": 20, "type": "payment.succeeded"})
    assert len(response.json()["data"]) == 20
