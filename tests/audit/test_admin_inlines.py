"""Rows saved by an admin page's inlines (processor routes on the processor account page) are listed,
masked, in the one entry of the form that saved them, written in the form's transaction."""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import path

from audit import services as audit_services
from audit.admin_mixins import AuditedAdmin
from audit.models import AuditEntry
from merchants.models import Merchant
from processors.admin import ProcessorAccountForm
from processors.models import ProcessorAccount, ProcessorRoute
from processors.services import processor_account_create

pytestmark = pytest.mark.django_db

ROUTE_PERMS = ["view_processoraccount", "change_processoraccount"] + [
    f"{verb}_processorroute" for verb in ("view", "add", "change", "delete")
]


@pytest.fixture
def operator() -> Client:
    """A staff user with exactly the permissions the processor account page's inline needs."""
    user = User.objects.create_user(username="routing-ops", password="x" * 16, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="processors", codename__in=ROUTE_PERMS))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def account(merchant_keys) -> ProcessorAccount:
    return processor_account_create(
        merchant_id=merchant_keys.merchant_id,
        processor="stripe",
        display_name="Stripe",
        credentials={"secret_key": "sk_1"},
    )


def _account_form(account: ProcessorAccount, routes: list[dict], *, initial: int, **fields) -> dict:
    data = {
        "display_name": account.display_name,
        "credentials": "",
        "base_url": "",
        "webhook_id": "",
        "is_active": "on",
        "routes-TOTAL_FORMS": str(len(routes)),
        "routes-INITIAL_FORMS": str(initial),
        "routes-MIN_NUM_FORMS": "0",
        "routes-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, route in enumerate(routes):
        data.update({f"routes-{index}-{name}": value for name, value in route.items()})
        data[f"routes-{index}-account"] = account.id
    return data


def _route(route: ProcessorRoute, **changes) -> dict:
    return {
        "id": route.id,
        "merchant": route.merchant_id,
        "payment_method_type": route.payment_method_type,
        "currency": route.currency,
        "priority": str(route.priority),
        **changes,
    }


def test_inline_rows_added_changed_and_deleted_are_listed_in_the_forms_one_entry(
    operator, account, merchant_keys, monkeypatch
):
    # Given an account with two routes
    merchant_id = merchant_keys.merchant_id
    kept = ProcessorRoute.objects.create(
        merchant_id=merchant_id, payment_method_type="card", priority=1, account=account
    )
    gone = ProcessorRoute.objects.create(
        merchant_id=merchant_id, payment_method_type="card", currency="EUR", priority=1, account=account
    )
    known = set(AuditEntry.objects.values_list("id", flat=True))
    depth_in_test = len(connection.atomic_blocks)
    write_depths = []
    record = audit_services.audit_record

    def spy(**kwargs):
        write_depths.append(len(connection.atomic_blocks))
        return record(**kwargs)

    monkeypatch.setattr(audit_services, "audit_record", spy)

    # When an operator, on the account page, changes one route, deletes one and adds one
    new = {"merchant": merchant_id, "payment_method_type": "card", "currency": "USD", "priority": "2"}
    response = operator.post(
        f"/admin/processors/processoraccount/{account.id}/change/",
        _account_form(account, [_route(kept, priority="5"), _route(gone, DELETE="on"), new], initial=2),
    )

    # Then the rows are saved
    assert response.status_code == 302, response.content[:3000]
    assert ProcessorRoute.objects.get(pk=kept.pk).priority == 5
    assert not ProcessorRoute.objects.filter(pk=gone.pk).exists()
    added = ProcessorRoute.objects.get(currency="USD")
    # and the form left exactly one entry, the account's, listing each row
    [entry] = AuditEntry.objects.exclude(id__in=known)
    assert (entry.action, entry.object_type, entry.object_id, entry.merchant_id) == (
        "admin.change",
        "processors.processoraccount",
        account.id,
        merchant_id,
    )
    assert (entry.actor, entry.source) == ("routing-ops", "admin") and entry.request_id.startswith("req_")
    changed, deleted, created = entry.after["inlines"]
    assert changed == {
        "model": "processors.processorroute",
        "id": kept.id,
        "action": "change",
        "changed": {"priority": [1, 5]},
    }
    assert (deleted["model"], deleted["id"], deleted["action"]) == ("processors.processorroute", gone.id, "delete")
    assert deleted["changed"]["currency"] == ["EUR", None] and deleted["changed"]["account"] == [account.id, None]
    assert (created["id"], created["action"]) == (added.id, "add")
    assert {name: created["changed"][name] for name in ("currency", "priority", "account", "merchant")} == {
        "currency": [None, "USD"],
        "priority": [None, 2],
        "account": [None, account.id],
        "merchant": [None, merchant_id],
    }
    # written once, inside the view's transaction (deeper than the test's own), not after it
    assert len(write_depths) == 1 and write_depths[0] > depth_in_test


def test_an_invalid_inline_row_saves_nothing_and_leaves_no_entry(operator, account, merchant_keys):
    merchant_id = merchant_keys.merchant_id
    route = ProcessorRoute.objects.create(
        merchant_id=merchant_id, payment_method_type="card", priority=1, account=account
    )
    known = AuditEntry.objects.count()
    # Given a new row that repeats the existing row's priority (a unique constraint)
    clash = {"merchant": merchant_id, "payment_method_type": "card", "currency": "", "priority": "1"}
    response = operator.post(
        f"/admin/processors/processoraccount/{account.id}/change/",
        _account_form(account, [_route(route), clash], initial=1, display_name="Renamed"),
    )
    assert response.status_code == 200  # the form again, with the error
    assert AuditEntry.objects.count() == known
    assert ProcessorRoute.objects.count() == 1 and ProcessorAccount.objects.get().display_name == "Stripe"


def test_a_changed_secret_is_listed_without_its_value(operator, account):
    # The diff compares stored values before masking: a new credential shows as changed, masked.
    operator.post(
        f"/admin/processors/processoraccount/{account.id}/change/",
        _account_form(account, [], initial=0, credentials=json.dumps({"secret_key": "sk_rotated_42"})),
    )
    entry = AuditEntry.objects.filter(action="admin.change").get()
    assert entry.before["credentials_encrypted"] == entry.after["credentials_encrypted"] == "[masked]"
    account.refresh_from_db()
    for value in ("sk_rotated_42", account.credentials_encrypted):
        assert value not in json.dumps(entry.before) + json.dumps(entry.after)


# No inline of the project edits a secret field today: this page (processor accounts, with their
# write-only credentials form, as rows of a merchant page) is the case masking must hold for.
class _AccountInline(admin.TabularInline):
    model = ProcessorAccount
    form = ProcessorAccountForm
    fields = ("processor", "display_name", "credentials")
    extra = 0


class _MerchantWithAccountsAdmin(AuditedAdmin):
    fields = ("name",)
    inlines = [_AccountInline]


_site = admin.AdminSite(name="inline_masking")
_site.register(Merchant, _MerchantWithAccountsAdmin)
urlpatterns = [path("masking-admin/", _site.urls)]


@pytest.mark.urls(__name__)
def test_secret_and_card_values_of_inline_rows_are_masked(admin_client, account, merchant_keys):
    prefix = "processor_accounts"
    response = admin_client.post(
        f"/masking-admin/merchants/merchant/{merchant_keys.merchant_id}/change/",
        {
            "name": "Acme",
            f"{prefix}-TOTAL_FORMS": "2",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-0-id": account.id,
            f"{prefix}-0-merchant": merchant_keys.merchant_id,
            f"{prefix}-0-processor": "stripe",
            f"{prefix}-0-display_name": "Stripe",
            f"{prefix}-0-credentials": json.dumps({"secret_key": "sk_replaced_secret"}),
            f"{prefix}-1-merchant": merchant_keys.merchant_id,
            f"{prefix}-1-processor": "stripe",
            f"{prefix}-1-display_name": "card 4242 4242 4242 4242",
            f"{prefix}-1-credentials": json.dumps({"secret_key": "sk_added_secret"}),
        },
    )
    assert response.status_code == 302, response.content[:3000]
    entry = AuditEntry.objects.filter(action="admin.change", object_type="merchants.merchant").get()
    changed, created = entry.after["inlines"]
    assert (changed["id"], changed["action"]) == (account.id, "change")
    assert changed["changed"]["credentials_encrypted"] == "[masked]"  # listed as changed, value hidden
    assert created["action"] == "add" and created["changed"]["credentials_encrypted"] == "[masked]"
    assert created["changed"]["display_name"] == [None, "card ****4242"]
    stored = json.dumps(entry.after)
    ciphertexts = ProcessorAccount.objects.values_list("credentials_encrypted", flat=True)
    for value in ("sk_replaced_secret", "sk_added_secret", "4242 4242 4242 4242", *ciphertexts):
        assert value not in stored
