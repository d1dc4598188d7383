"""Admin: runs and items are read-only, an item can only be resolved with a reason (kept). Beat: the
daily task reconciles yesterday for every active account and every merchant with sandbox activity."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User

from reconciliation import tasks
from reconciliation.models import Classification, ReconciliationItem, ReconciliationRun
from reconciliation.services import reconciliation_targets
from sandbox.models import SandboxCharge
from tests.factories import SandboxChargeFactory

from .conftest import run_reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def discrepancy(merchant, today):
    SandboxChargeFactory(merchant_id=merchant.id, reference="att_unknown", amount=900)
    run_reconcile("--merchant", merchant.id, "--date", today)
    return ReconciliationItem.objects.get(classification=Classification.MISSING_IN_GATEWAY)


def test_runs_and_items_are_read_only_in_the_admin(admin_client, discrepancy):
    run = discrepancy.run
    assert admin_client.get("/admin/reconciliation/reconciliationrun/").status_code == 200
    page = admin_client.get(f"/admin/reconciliation/reconciliationitem/{discrepancy.id}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert "Resolve with a reason" in page.content.decode()
    assert admin_client.get("/admin/reconciliation/reconciliationitem/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/reconciliation/reconciliationitem/{discrepancy.id}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(f"/admin/reconciliation/reconciliationrun/{run.id}/change/", {"processor": "x"}).status_code
        == 403
    )
    discrepancy.refresh_from_db()
    assert discrepancy.resolved_at is None


def test_an_operator_resolves_an_item_with_a_reason_in_the_admin(admin_client, admin_user, discrepancy):
    url = f"/admin/reconciliation/reconciliationitem/{discrepancy.id}/resolve/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"reason": ""}).status_code == 200  # the form asks again
    discrepancy.refresh_from_db()
    assert discrepancy.resolved_at is None

    admin_client.post(url, {"reason": "charge made by support in the dashboard, refunded there"})

    discrepancy.refresh_from_db()
    assert discrepancy.resolved_by == admin_user.username
    assert discrepancy.resolution_reason == "charge made by support in the dashboard, refunded there"
    from audit.models import AuditEntry

    [entry] = AuditEntry.objects.filter(action="admin.reconciliation_item.resolve")
    assert (entry.actor, entry.object_id) == (admin_user.username, discrepancy.id)


def test_staff_without_the_change_permission_cannot_resolve(client, discrepancy):
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reconciliationitem"))
    client.force_login(viewer)
    url = f"/admin/reconciliation/reconciliationitem/{discrepancy.id}/resolve/"
    client.post(url, {"reason": "I may not"})
    discrepancy.refresh_from_db()
    assert discrepancy.resolved_at is None


def test_the_daily_task_reconciles_yesterday_for_each_account(merchant, pay, monkeypatch):
    payment = pay(2000)
    yesterday = datetime.now(tz=UTC) - timedelta(days=1)
    SandboxCharge.objects.filter(id=payment.processor_reference).update(created=yesterday, captured_at=yesterday)
    assert reconciliation_targets() == [(merchant.id, "sandbox")]

    assert tasks.reconcile_yesterday.delay().get() == 1  # eager in tests: the account's task ran too

    [run] = ReconciliationRun.objects.all()
    assert (run.merchant_id, run.processor_account_id, run.period_start.date()) == (
        merchant.id,
        "sandbox",
        yesterday.date(),
    )
    # The sandbox booked the charge yesterday, our payment is of today: matched by its reference all the same
    assert run.summary == {Classification.MATCHED: 1} and run.lines == 1
