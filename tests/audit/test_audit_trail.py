"""The audit trail: append-only in the database, one entry per admin action / save / command in
its transaction (rolled back with it), secrets and card data masked, CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.admin_mixins import AuditedAdmin
from audit.masking import masked
from audit.models import AuditEntry
from audit.services import Actor, audit_record
from gateway import commands as gateway_commands
from gateway.models import IdempotencyKey
from merchants.models import ApiKey, Merchant

pytestmark = pytest.mark.django_db


def _entry(**overrides) -> AuditEntry:
    with transaction.atomic():
        return audit_record(actor=Actor(source="system", name="test"), action="test.action", **overrides)


def test_the_database_refuses_update_and_delete_of_an_entry():
    entry = _entry(object_id="x")
    for statement in ("UPDATE audit_auditentry SET actor = 'someone else'", "DELETE FROM audit_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(outcome="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).actor == "test"


def test_card_numbers_and_secrets_never_reach_an_entry():
    entry = _entry(
        before={"secret_key": "sk_live_abc", "note": "card 4242 4242 4242 4242 used", "amount": 1000},
        after={"credentials": {"client_secret": "s3cr3t"}, "nested": [{"number": "4000000000000259"}], "ok": "1234"},
    )
    stored = str(entry.before) + str(entry.after)
    for secret in ("sk_live_abc", "4242 4242 4242 4242", "s3cr3t", "4000000000000259"):
        assert secret not in stored
    assert entry.before["note"] == "card ****4242 used" and entry.before["amount"] == 1000
    assert masked("order 123456789012") == "order 123456789012"  # not a card number (no Luhn, short)


def test_every_registered_admin_is_audited_or_has_no_way_to_write(rf):
    request = rf.get("/admin/")
    request.user = type("Super", (), {"is_active": True, "is_staff": True, "has_perm": lambda *a: True})()
    unaudited = []
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, AuditedAdmin):
            continue
        writes = (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
        if writes or model_admin.actions:
            unaudited.append(model._meta.label)
    assert unaudited == []


def test_an_admin_change_leaves_one_entry_with_the_changed_fields(admin_client, merchant_keys):
    merchant = Merchant.objects.get(pk=merchant_keys.merchant_id)
    response = admin_client.post(
        f"/admin/merchants/merchant/{merchant.id}/change/",
        {
            "name": "Renamed",
            "is_active": "on",
            "rate_limit_per_second": "7",
            "rate_limit_burst": "9",
            "settings": "{}",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    [entry] = AuditEntry.objects.filter(action="admin.change")
    assert (entry.actor, entry.source, entry.object_type, entry.object_id) == (
        "admin",
        "admin",
        "merchants.merchant",
        merchant.id,
    )
    assert entry.before["name"] == "Acme" and entry.after["name"] == "Renamed"
    assert "rate_limit_per_second" in entry.after and "created" not in entry.after  # only what changed
    assert entry.request_id.startswith("req_") and entry.ip == "127.0.0.1"


def test_an_admin_action_leaves_one_entry_and_rolls_back_with_it(admin_client, merchant_keys, monkeypatch):
    key = ApiKey.objects.filter(merchant_id=merchant_keys.merchant_id, kind="secret").get()
    # Given an action that fails half-way, its change and its entry vanish together
    from merchants import admin as merchants_admin

    def revoke_then_fail(*, api_key):
        ApiKey.objects.filter(pk=api_key.pk).update(name="half-done")
        raise DatabaseError("boom")

    monkeypatch.setattr(merchants_admin, "api_key_revoke", revoke_then_fail)
    before = set(AuditEntry.objects.values_list("id", flat=True))
    with pytest.raises(DatabaseError):
        admin_client.post("/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [key.id]})
    assert set(AuditEntry.objects.values_list("id", flat=True)) == before
    assert ApiKey.objects.get(pk=key.pk).name == ""
    monkeypatch.undo()

    # When it succeeds: exactly one entry, naming the key and what changed (the revocation)
    admin_client.post("/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [key.id]})
    [entry] = AuditEntry.objects.exclude(id__in=before)
    assert (entry.action, entry.object_id, entry.merchant_id) == ("admin.action.revoke", key.id, key.merchant_id)
    assert entry.before[key.id]["revoked_at"] is None and entry.after[key.id]["revoked_at"]
    assert entry.after["changes"][0]["action"] == "api_key.revoke"  # the service's note, folded in


def test_a_command_leaves_one_entry_in_its_transaction(merchant_keys):
    from processors.services import processor_account_create

    account = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="stripe", display_name="S", credentials={"secret_key": "sk_x"}
    )
    before = AuditEntry.objects.count()
    call_command("processor_account_disable", account.id)
    [entry] = AuditEntry.objects.order_by("-id")[: AuditEntry.objects.count() - before]
    assert (entry.action, entry.source, entry.outcome) == ("command.processor_account_disable", "command", "done")
    assert entry.after["options"]["account_id"] == account.id
    # A failing command leaves nothing
    with pytest.raises(CommandError):
        call_command("processor_account_disable", "pra_missing")
    assert AuditEntry.objects.count() == before + 1


def test_purging_idempotency_keys_leaves_one_entry_with_the_count(monkeypatch):
    # Given two expired keys and a fresh one (the gateway layer's command: audited through the
    # runner the audit app registers, since gateway imports no app)
    for key in ("old-1", "old-2", "fresh"):
        IdempotencyKey.objects.create(
            merchant_id="mer_x", scope="secret", key=key, request_method="POST", request_path="/v1/p"
        )
    IdempotencyKey.objects.exclude(key="fresh").update(created=timezone.now() - timedelta(hours=25))

    # When an operator purges them
    call_command("purge_idempotency_keys", stdout=io.StringIO())

    # Then one entry names the command, who ran it, its arguments and how many rows went
    [entry] = AuditEntry.objects.filter(action="command.purge_idempotency_keys")
    assert (entry.source, entry.outcome) == ("command", "done")
    assert entry.actor.endswith("(manage.py purge_idempotency_keys)")
    assert entry.after == {"options": {}, "args": [], "result": {"deleted": 2}}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]

    # Without the audit app's runner it refuses to run rather than delete unrecorded
    monkeypatch.setattr(gateway_commands, "_runner", None)
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=25))
    with pytest.raises(CommandError, match="audit"):
        call_command("purge_idempotency_keys", stdout=io.StringIO())
    assert IdempotencyKey.objects.count() == 1
    assert AuditEntry.objects.filter(action="command.purge_idempotency_keys").count() == 1


def test_credential_changes_are_audited_without_the_secrets(merchant_keys):
    from processors.services import processor_account_create, processor_account_set_credentials

    account = processor_account_create(
        merchant_id=merchant_keys.merchant_id,
        processor="stripe",
        display_name="S",
        credentials={"secret_key": "sk_test_supersecret"},
    )
    processor_account_set_credentials(account=account, credentials={"secret_key": "sk_test_rotated"})
    entries = AuditEntry.objects.filter(object_id=account.id).order_by("id")
    assert [e.action for e in entries] == ["processor_account.create", "processor_account.credentials_replace"]
    assert all("supersecret" not in str(e.after) and "rotated" not in str(e.after) for e in entries)
    assert entries[1].after["keys_set"] == ["secret_key"]


def test_create_merchant_command_keeps_the_raw_keys_out_of_the_trail(capsys):
    call_command("create_merchant", name="Initech", as_json=True)
    printed = capsys.readouterr().out
    [entry] = AuditEntry.objects.filter(action="command.create_merchant")
    assert len(entry.after["changes"]) == 2  # both keys, as notes of the one entry
    for raw in ("sk_test_", "pk_test_"):
        raw_key = printed.split(raw, 1)[1].split('"', 1)[0]
        assert raw_key not in str(entry.after)


def test_csv_export_is_audited_and_quotes_formulas(admin_client):
    first = _entry(object_id="=HYPERLINK(1)")
    response = admin_client.post("/admin/audit/auditentry/", {"action": "export_csv", "_selected_action": [first.id]})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["object_id"] for r in rows] == ["'=HYPERLINK(1)"]
    [export] = AuditEntry.objects.filter(action="audit.export")
    assert export.object_id == first.id and export.after == {"rows": 1}
