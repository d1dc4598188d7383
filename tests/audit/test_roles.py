"""Operator roles (support, finance, operators): what each sees and does in the admin, and that
everything else is refused. Money moves only through the confirmed, audited operations."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from audit.models import AuditEntry
from audit.roles import ROLES, roles_sync
from payments.models import Payment, Refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    roles_sync()  # what post_migrate does after every migration

    def make(role: str) -> Client:
        user = User.objects.create_user(username=f"{role}-user", password="x" * 16, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def paid(secret_client) -> Payment:
    body = secret_client.post(
        "/v1/payments",
        {
            "amount": 5000,
            "currency": "usd",
            "confirm": True,
            "capture_method": "manual",
            "payment_method": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            },
        },
        format="json",
    ).json()
    return Payment.objects.get(pk=body["id"])


def _offered(client: Client, model) -> set[str]:
    """The actions the admin offers this user on ``model`` (whether or not any row exists)."""
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = client.user
    return set(admin.site._registry[model].get_actions(request))


def _actions(client: Client, path: str) -> set[str]:
    page = client.get(path).content.decode()
    return {chunk.split('"', 1)[0] for chunk in page.split('<option value="')[1:]} - {""}


def test_the_groups_exist_with_their_permissions():
    counts = roles_sync()
    assert set(counts) == set(ROLES) and {g.name for g in Group.objects.all()} >= set(ROLES)
    support = set(Group.objects.get(name="support").permissions.values_list("codename", flat=True))
    operators = set(Group.objects.get(name="operators").permissions.values_list("codename", flat=True))
    assert {"view_payment", "view_auditentry", "export_auditentry"} <= support
    assert not {p for p in support if p.startswith(("add_", "change_", "delete_"))}
    assert {"operate_payments", "resend_events", "revoke_api_keys"} <= operators
    assert "operate_payments" not in support
    # finance's reconciliation permissions are granted once that app is installed; until then skipped
    finance = set(Group.objects.get(name="finance").permissions.values_list("codename", flat=True))
    assert "export_auditentry" in finance and "operate_payments" not in finance


@pytest.mark.parametrize("role", ["support", "finance"])
def test_read_only_roles_see_everything_and_can_do_nothing(staff, role, paid, merchant_keys):
    client = staff(role)
    for path in (
        "/admin/payments/payment/",
        f"/admin/payments/payment/{paid.id}/change/",
        "/admin/merchants/merchant/",
        "/admin/audit/auditentry/",
        "/admin/disputes/dispute/",
        "/admin/ledger/journalentry/",
    ):
        assert client.get(path).status_code == 200, path
    from events.models import Event
    from merchants.models import ApiKey
    from orders.models import Order

    assert _actions(client, "/admin/payments/payment/") == set()
    for model in (Payment, ApiKey, Event, Order, Refund):
        assert _offered(client, model) == set(), model
    assert _offered(client, AuditEntry) == {"export_csv"}
    # forms and posted actions are refused
    merchant_path = f"/admin/merchants/merchant/{merchant_keys.merchant_id}/change/"
    assert client.post(merchant_path, {"name": "Hacked"}).status_code == 403
    assert client.get("/admin/merchants/merchant/add/").status_code == 403
    assert (
        client.post(f"/admin/merchants/merchant/{merchant_keys.merchant_id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/auth/user/").status_code == 403  # accounts are the superuser's
    client.post(
        "/admin/payments/payment/",
        {"action": "capture_payment", "_selected_action": [paid.id], "confirm": "yes", "confirmation_token": "t" * 20},
    )
    paid.refresh_from_db()
    assert paid.status == "requires_capture" and not AuditEntry.objects.filter(action__startswith="payment.").exists()


def test_operators_capture_and_refund_through_a_confirmation_once(staff, paid):
    client = staff("operators")
    assert _actions(client, "/admin/payments/payment/") == {
        "refund_payment",
        "capture_payment",
        "cancel_payment",
        "sync_payment",
    }
    assert client.post(f"/admin/payments/payment/{paid.id}/change/", {}).status_code == 403  # still no edit form

    # The action shows a confirmation page first: nothing happens, nothing is recorded
    page = client.post("/admin/payments/payment/", {"action": "capture_payment", "_selected_action": [paid.id]})
    assert page.status_code == 200 and b"Capture payment" in page.content
    token = page.content.decode().split('name="confirmation_token" value="', 1)[1].split('"', 1)[0]
    paid.refresh_from_db()
    assert paid.status == "requires_capture" and not AuditEntry.objects.filter(action="payment.capture").exists()

    # Confirming captures through the payments service; a double submit does nothing more
    confirm = {
        "action": "capture_payment",
        "_selected_action": [paid.id],
        "confirm": "yes",
        "confirmation_token": token,
        "amount_to_capture": "4000",
    }
    for _ in range(2):
        client.post("/admin/payments/payment/", confirm)
    paid.refresh_from_db()
    assert (paid.status, paid.amount_received) == ("succeeded", 4000)
    [entry] = AuditEntry.objects.filter(action="payment.capture")
    assert (entry.actor, entry.object_id, entry.after) == ("operators-user", paid.id, {"amount_to_capture": 4000})
    assert entry.before["status"] == "requires_capture"

    # Refund: the same, and a double submit refunds once
    page = client.post("/admin/payments/payment/", {"action": "refund_payment", "_selected_action": [paid.id]})
    token = page.content.decode().split('name="confirmation_token" value="', 1)[1].split('"', 1)[0]
    refund = {
        "action": "refund_payment",
        "_selected_action": [paid.id],
        "confirm": "yes",
        "confirmation_token": token,
        "amount": "1500",
    }
    client.post("/admin/payments/payment/", refund)
    client.post("/admin/payments/payment/", refund)
    assert list(Refund.objects.filter(payment_id=paid.id).values_list("amount", "status")) == [(1500, "succeeded")]
    assert AuditEntry.objects.filter(action="payment.refund").count() == 1


def test_operators_resend_events_and_revoke_keys_but_edit_nothing(staff, merchant_keys):
    from django.db import transaction

    from events.services import event_record

    with transaction.atomic():
        event_record(merchant_id=merchant_keys.merchant_id, type="payment.created", data={"id": "pay_x"})
    client = staff("operators")
    assert "revoke" in _actions(client, "/admin/merchants/apikey/")
    assert "resend_to_subscribed_endpoints" in _actions(client, "/admin/events/event/")
    from orders.models import Order

    assert _offered(client, Order) == set()  # order changes are not an operator's
    assert (
        client.post(f"/admin/merchants/merchant/{merchant_keys.merchant_id}/change/", {"name": "x"}).status_code == 403
    )
    assert _offered(client, AuditEntry) == set()  # export is support's and finance's
