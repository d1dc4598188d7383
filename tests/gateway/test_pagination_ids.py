import time

import pytest

from gateway.ids import looks_like_id, new_id
from merchants.models import Merchant
from merchants.services import api_key_create

pytestmark = pytest.mark.urls("tests.gateway.probe_urls")


def test_ids_are_prefixed_opaque_and_time_sortable():
    first = new_id("pay")
    time.sleep(0.002)
    second = new_id("pay")
    assert first.startswith("pay_") and looks_like_id(first, "pay")
    assert len(first) == 30
    assert first < second
    assert len({new_id("pay") for _ in range(10_000)}) == 10_000


@pytest.mark.django_db
def test_cursor_pagination_walks_newest_first(merchant_keys, secret_client):
    merchant = Merchant.objects.get(id=merchant_keys.merchant_id)
    for _ in range(5):
        api_key_create(merchant=merchant, kind="publishable")
        time.sleep(0.002)
    all_ids = sorted(merchant.api_keys.values_list("id", flat=True), reverse=True)  # 7 keys
    page1 = secret_client.get("/v1/probe/list", {"limit": 3}).json()
    assert page1["object"] == "list" and page1["has_more"] is True
    assert [o["id"] for o in page1["data"]] == all_ids[:3]
    page2 = secret_client.get("/v1/probe/list", {"limit": 3, "starting_after": all_ids[2]}).json()
    assert [o["id"] for o in page2["data"]] == all_ids[3:6]
    page3 = secret_client.get("/v1/probe/list", {"limit": 3, "starting_after": all_ids[5]}).json()
    assert [o["id"] for o in page3["data"]] == all_ids[6:] and page3["has_more"] is False
    back = secret_client.get("/v1/probe/list", {"limit": 2, "ending_before": all_ids[3]}).json()
    assert [o["id"] for o in back["data"]] == all_ids[1:3] and back["has_more"] is True
    default = secret_client.get("/v1/probe/list").json()
    assert len(default["data"]) == 7


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_limit_out_of_range_is_400(secret_client, limit):
    response = secret_client.get("/v1/probe/list", {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


@pytest.mark.django_db
def test_lists_are_tenant_scoped(merchant_keys, other_merchant_keys, secret_client):
    ids = {o["id"] for o in secret_client.get("/v1/probe/list").json()["data"]}
    other_ids = {o["id"] for o in other_merchant_keys.client().get("/v1/probe/list").json()["data"]}
    assert ids and other_ids and not ids & other_ids
