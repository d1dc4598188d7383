"""The per-process cache of a merchant's processor configuration (``gateway.cache.MERCHANT_CONFIG``):
routes, accounts, connectors, the sandbox's settings and fault plan. A change through a service or
the admin takes effect on the very next request, in this process and (through the version in
Redis) in every other one; the cache is really used, so a change behind its back is not seen."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from gateway.cache import MERCHANT_CONFIG
from merchants.services import merchant_settings_set
from processors.models import ProcessorRoute
from processors.selectors import SANDBOX_ACCOUNT_ID, route_for
from processors.services import processor_account_create, processor_account_set_active, processor_route_set
from sandbox.models import SandboxFaultPlan
from sandbox.services import sandbox_fault_plan_set
from tests.payments.conftest import card


def _route_ids(merchant_id: str) -> list[str]:
    return [e.account_id for e in route_for(merchant_id=merchant_id, payment_method_type="card", currency="USD")]


def _sandbox_account(merchant_id: str):
    return processor_account_create(merchant_id=merchant_id, processor="sandbox", display_name="Own", credentials={})


class OtherProcess:
    """What a process that did not make a change still holds: its entries, under the old version."""

    def __init__(self):
        self.entries = dict(MERCHANT_CONFIG._entries)

    def resume(self) -> None:
        MERCHANT_CONFIG._entries.update(self.entries)
        MERCHANT_CONFIG._pending().clear()  # another process has none of this thread's uncommitted changes


def test_routes_come_from_the_cache_and_a_change_behind_its_back_is_not_seen(merchant_keys, django_assert_num_queries):
    merchant_id = merchant_keys.merchant_id
    account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]

    # a raw write that skips the services: the cache does not know (the reason every write goes through them)
    ProcessorRoute.objects.create(merchant_id=merchant_id, payment_method_type="card", priority=1, account=account)
    with django_assert_num_queries(0):
        assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]


def test_a_service_change_is_seen_by_the_next_lookup_in_this_process(merchant_keys):
    merchant_id = merchant_keys.merchant_id
    account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]

    processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])
    assert _route_ids(merchant_id) == [account.id]

    processor_account_set_active(account_id=account.id, is_active=False)
    assert _route_ids(merchant_id) == []


def test_a_service_change_reaches_another_process_through_redis(merchant_keys, django_capture_on_commit_callbacks):
    merchant_id = merchant_keys.merchant_id
    with django_capture_on_commit_callbacks(execute=True):
        account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]
    other = OtherProcess()

    # when: this process changes the route and commits
    with django_capture_on_commit_callbacks(execute=True):
        processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])

    # then: a process still holding the old entries sees the new version in Redis and reloads
    other.resume()
    assert _route_ids(merchant_id) == [account.id]


def test_without_the_commit_another_process_keeps_its_entries(merchant_keys, django_capture_on_commit_callbacks):
    # the control of the test above: the version in Redis is what carries the change
    merchant_id = merchant_keys.merchant_id
    with django_capture_on_commit_callbacks(execute=True):
        account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]
    other = OtherProcess()

    with django_capture_on_commit_callbacks(execute=False):
        processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])

    other.resume()
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]


@pytest.mark.django_db(transaction=True)
def test_a_change_rolled_back_is_never_kept(merchant_keys):
    # given: routes cached under the committed configuration
    merchant_id = merchant_keys.merchant_id
    account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]

    # when: a change is read inside its own transaction, which then rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])
        assert _route_ids(merchant_id) == [account.id]
        raise RuntimeError("rolled back")

    # then: what the rolled-back transaction read is not served afterwards
    assert list(ProcessorRoute.objects.filter(merchant_id=merchant_id)) == []
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]


@pytest.mark.django_db(transaction=True)
def test_after_a_rollback_the_next_transaction_of_the_thread_reads_the_committed_configuration(merchant_keys):
    merchant_id = merchant_keys.merchant_id
    account = _sandbox_account(merchant_id)
    assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]

    # given: a change read inside its transaction, which rolls back (the thread reads next inside
    # a transaction, as a payment's confirmation does, never outside one)
    with pytest.raises(RuntimeError), transaction.atomic():
        processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])
        assert _route_ids(merchant_id) == [account.id]
        raise RuntimeError("rolled back")
    with transaction.atomic():
        assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]

    # and: a change in a savepoint that rolls back while its transaction goes on
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[account.id])
            assert _route_ids(merchant_id) == [account.id]
            raise RuntimeError("savepoint rolled back")
        assert _route_ids(merchant_id) == [SANDBOX_ACCOUNT_ID]


@pytest.fixture
def admin_client_logged_in(db, client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-admin-password-1")
    client.force_login(user)
    return client


def test_an_admin_route_change_reaches_another_process_on_the_next_request(
    admin_client_logged_in, merchant_keys, secret_client, django_capture_on_commit_callbacks
):
    merchant_id = merchant_keys.merchant_id
    account = _sandbox_account(merchant_id)
    first = secret_client.post(
        "/v1/payments", {"amount": 500, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    )
    assert first.json()["processor"] == "sandbox"
    other = OtherProcess()

    # when: an operator routes card payments to the merchant's own account in admin
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged_in.post(
            "/admin/processors/processorroute/add/",
            {
                "merchant": merchant_id,
                "payment_method_type": "card",
                "currency": "",
                "priority": "1",
                "account": account.id,
            },
        )
    assert response.status_code == 302, response.content[:2000]

    # then: the very next payment, in a process that held the old routes, takes it
    other.resume()
    second = secret_client.post(
        "/v1/payments", {"amount": 500, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    )
    assert second.status_code == 201
    from payments.models import Payment

    assert Payment.objects.get(pk=second.json()["id"]).processor_account_id == account.id


def test_sandbox_settings_and_fault_plans_take_effect_on_the_next_call(merchant_keys, secret_client):
    merchant_id = merchant_keys.merchant_id

    def pay():
        return secret_client.post(
            "/v1/payments", {"amount": 500, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
        )

    assert pay().status_code == 201  # settings and (no) plan now cached
    sandbox_fault_plan_set(merchant_id=merchant_id, count=1, mode="failed", operations=["authorize"])
    assert pay().status_code == 503
    assert SandboxFaultPlan.objects.get(merchant_id=merchant_id).remaining == 0
    assert pay().status_code == 201

    merchant_settings_set(merchant_id=merchant_id, settings={"sandbox": {"failure_rate": 1.0}})
    assert pay().status_code == 503
    merchant_settings_set(merchant_id=merchant_id, settings={})
    assert pay().status_code == 201


def test_an_admin_fault_plan_is_seen_on_the_next_call(admin_client_logged_in, merchant_keys, secret_client):
    merchant_id = merchant_keys.merchant_id
    body = {"amount": 500, "currency": "usd", "payment_method": card(), "confirm": True}
    assert secret_client.post("/v1/payments", body, format="json").status_code == 201

    response = admin_client_logged_in.post(
        "/admin/sandbox/sandboxfaultplan/add/",
        {"merchant_id": merchant_id, "remaining": "1", "mode": "failed", "operations": "", "settings_marker": ""},
    )
    assert response.status_code == 302, response.content[:2000]

    assert secret_client.post("/v1/payments", body, format="json").status_code == 503


def test_a_route_never_reaches_another_merchants_account(merchant_keys, other_merchant_keys):
    # given: a route of merchant A pointing at merchant B's account, written behind the services' back
    theirs = _sandbox_account(other_merchant_keys.merchant_id)
    ProcessorRoute.objects.create(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", priority=1, account=theirs
    )
    MERCHANT_CONFIG.clear_local()
    # then: A's payments are never routed to B's account
    assert theirs.id not in _route_ids(merchant_keys.merchant_id)


def test_the_admin_refuses_a_route_to_another_merchants_account_and_keeps_an_accounts_owner(
    admin_client_logged_in, merchant_keys, other_merchant_keys
):
    theirs = _sandbox_account(other_merchant_keys.merchant_id)
    response = admin_client_logged_in.post(
        "/admin/processors/processorroute/add/",
        {"merchant": merchant_keys.merchant_id, "payment_method_type": "card", "currency": "", "priority": "1",
         "account": theirs.id},
    )  # fmt: skip
    assert response.status_code == 200 and b"must belong to the route" in response.content
    assert not ProcessorRoute.objects.filter(merchant_id=merchant_keys.merchant_id).exists()

    page = admin_client_logged_in.get(f"/admin/processors/processoraccount/{theirs.id}/change/")
    assert page.status_code == 200 and b'name="merchant"' not in page.content  # shown, not editable
