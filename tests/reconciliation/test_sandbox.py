"""Reconciling a day of sandbox payments: a clean day is all matched and its fees and payout are in
the books, summing to the cent against the sandbox's settlement report; each discrepancy class is
found; a rerun changes nothing; the command's exit code follows the blocking items."""

from datetime import timedelta

import pytest
from django.db import transaction

from events.models import Event
from ledger.models import EntryKind, JournalEntry
from ledger.selectors import ledger_report
from payments.models import AttemptStatus, PaymentAttempt, PaymentStatus
from payments.reconciliation import ledger_check
from reconciliation.models import Classification, ReconciliationItem, ReconciliationRun
from reconciliation.services import account_scope, settlement_fetch
from sandbox.models import SandboxCharge, SandboxRefund
from sandbox.settlement import sandbox_fee
from tests.factories import SandboxChargeFactory

from .conftest import items, reconcile_json, reconcile_sandbox, run_reconcile

pytestmark = pytest.mark.django_db


def classes(run: ReconciliationRun) -> dict[str, int]:
    return {key: value for key, value in run.summary.items() if value}


def test_the_sandbox_fee_is_2_9_percent_rounded_half_up_plus_30():
    assert sandbox_fee(2000) == 58 + 30
    assert sandbox_fee(1000) == 29 + 30
    assert sandbox_fee(50) == 1 + 30  # 1.45 -> 1
    assert sandbox_fee(100) == 3 + 30  # 2.9 -> 3
    assert sandbox_fee(1_000_000_000_000) == 29_000_000_000 + 30


def test_a_clean_day_is_all_matched_with_fees_and_payout_in_the_books(
    merchant, pay, refund, period, today, sandbox_clock
):
    # Given a day of sandbox payments: three charges in two currencies and a partial refund
    first, second, euros = pay(2000), pay(5000), pay(1250, "eur")
    refund(second, 1500)
    # and the day is over and a day more, so the sandbox has paid it out and the payouts arrived
    sandbox_clock(period[1] + timedelta(days=1, hours=1))

    # When finance reconciles the day with one command
    code, out = reconcile_json("--merchant", merchant.id, "--date", today)

    # Then every line is matched and the command succeeds
    assert code == 0, out
    [run] = out["runs"]
    assert run["summary"]["matched"] == 4 and sum(run["summary"].values()) == 4
    assert {i["payment"] for i in run["items"]} == {first.id, second.id, euros.id}
    # And each charge's fee is posted once, on its payment, and the day's payouts arrived at the bank
    fees = dict(JournalEntry.objects.filter(kind=EntryKind.FEE).values_list("payment_id", "amount"))
    assert fees == {first.id: sandbox_fee(2000), second.id: sandbox_fee(5000), euros.id: sandbox_fee(1250)}
    assert JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID).count() == 2

    # And ledger_report sums to the cent against the settlement report of the same day
    start, end = period
    report = settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=start, end=end)
    rows = {row.currency: row for row in ledger_report(merchant_id=merchant.id, since=start, until=end)}
    for currency in ("USD", "EUR"):
        lines = [line for line in report.lines if line.currency == currency]
        payouts = [p.amount for p in report.payouts if p.currency == currency]
        row = rows[currency]
        assert row.captured == sum(line.amount for line in lines if line.kind == "charge")
        assert row.refunded == -sum(line.amount for line in lines if line.kind == "refund")
        assert row.fees == sum(line.fee for line in lines)
        assert row.net == sum(line.net for line in lines)
        assert row.paid_out + row.in_transit == sum(payouts)
        assert row.at_processor == row.net - row.paid_out - row.in_transit == 0
    assert rows["USD"].net == 2000 + 5000 - 1500 - sandbox_fee(2000) - sandbox_fee(5000)
    assert ledger_check(merchant_id=merchant.id) == []


def test_a_rerun_of_the_same_period_changes_nothing(merchant, pay, refund, period, django_capture_on_commit_callbacks):
    payment = pay(2000)
    refund(payment, 500)
    SandboxChargeFactory(merchant_id=merchant.id, reference="outside", amount=700)
    first = reconcile_sandbox(merchant, period)
    before = list(ReconciliationItem.objects.order_by("id").values())
    entries, events = JournalEntry.objects.count(), Event.objects.count()

    again = reconcile_sandbox(merchant, period)

    assert again.id == first.id and ReconciliationRun.objects.count() == 1 and again.runs == 2
    assert list(ReconciliationItem.objects.order_by("id").values()) == before
    assert (JournalEntry.objects.count(), Event.objects.count()) == (entries, events)


def test_money_moved_that_we_do_not_know_of_is_missing_in_gateway_and_blocks(merchant, pay, today):
    # Given a charge at the processor that no payment of ours made
    pay(2000)
    charge = SandboxChargeFactory(merchant_id=merchant.id, reference="att_from_nowhere", amount=900)
    # When the day is reconciled
    code, out = run_reconcile("--merchant", merchant.id, "--date", today)
    # Then it is found, the command fails, and the merchant is told
    [item] = items(Classification.MISSING_IN_GATEWAY)
    assert (item.processor_reference, item.processor_amount, item.payment_id) == (charge.id, 900, "")
    assert code == 1 and "1 unresolved item(s)" in out and item.id in out
    [event] = Event.objects.filter(type="reconciliation.discrepancy_found")
    assert event.merchant_id == merchant.id and not event.livemode
    assert [d["id"] for d in event.data["object"]["discrepancies"]] == [item.id]
    # And no fee is posted for a payment we do not have
    assert not JournalEntry.objects.filter(operation_ref=f"sbtxn_{charge.id}").exists()


def test_another_amount_at_the_processor_is_an_amount_mismatch(merchant, pay, today):
    payment = pay(2000)
    SandboxCharge.objects.filter(id=payment.processor_reference).update(amount_captured=1990)
    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    [item] = items(Classification.AMOUNT_MISMATCH)
    assert (item.payment_id, item.processor_amount, item.gateway_amount) == (payment.id, 1990, 2000)
    assert code == 1


def test_another_currency_at_the_processor_is_a_currency_mismatch(merchant, pay, today):
    payment = pay(2000)
    SandboxCharge.objects.filter(id=payment.processor_reference).update(currency="EUR")
    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    [item] = items(Classification.CURRENCY_MISMATCH)
    assert (item.payment_id, item.processor_currency, item.gateway_currency) == (payment.id, "EUR", "USD")
    assert code == 0  # not blocking, but not matched either
    assert not JournalEntry.objects.filter(kind=EntryKind.FEE).exists()  # the books refuse a second currency


def test_our_charge_missing_from_the_processors_day_is_missing_at_processor(merchant, pay, today):
    payment = pay(2000)
    two_days_earlier = SandboxCharge.objects.get(id=payment.processor_reference).created - timedelta(days=2)
    SandboxCharge.objects.filter(id=payment.processor_reference).update(
        created=two_days_earlier, captured_at=two_days_earlier
    )
    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    [item] = items(Classification.MISSING_AT_PROCESSOR)
    assert (item.key, item.gateway_amount, item.processor_amount) == (f"payment:{payment.id}", 2000, None)
    assert code == 0


def test_a_refund_made_in_the_processors_dashboard_is_refund_outside_gateway(merchant, pay, today):
    payment = pay(2000)
    charge = SandboxCharge.objects.get(id=payment.processor_reference)
    outside = SandboxRefund.objects.create(
        merchant_id=merchant.id, reference="dashboard", charge=charge, amount=300, currency="USD"
    )
    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    [item] = items(Classification.REFUND_OUTSIDE_GATEWAY)
    assert (item.processor_reference, item.payment_id, item.processor_amount) == (outside.id, payment.id, -300)
    assert code == 0


def test_a_lost_outcome_is_a_status_mismatch_handed_to_the_janitor(
    merchant, pay, today, django_capture_on_commit_callbacks
):
    # Given a charge the sandbox made whose answer we lost: the payment is processing, its attempt unknown
    merchant.settings = {"sandbox": {"failure_mode": "unknown_after_charge", "fail_next": 1}}
    merchant.save(update_fields=["settings"])
    payment = pay(2000)
    assert payment.status == PaymentStatus.PROCESSING
    assert PaymentAttempt.objects.get(payment=payment).status == AttemptStatus.UNKNOWN

    # When the day is reconciled (the janitor's task runs after the commit, eagerly in tests)
    with django_capture_on_commit_callbacks(execute=True):
        code, _ = run_reconcile("--merchant", merchant.id, "--date", today)

    # Then the discrepancy is recorded and handed over, and the janitor's resolution settled the payment
    [item] = items(Classification.STATUS_MISMATCH)
    assert item.payment_id == payment.id and item.handed_to_janitor_at is not None
    assert "outcome unknown" in item.detail
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.amount_received == 2000
    assert ledger_check(merchant_id=merchant.id) == []
    # And a rerun finds it matched now, without handing it over again
    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    item.refresh_from_db()
    assert item.classification == Classification.MATCHED and code == 0


def test_a_resolved_item_stops_blocking_and_keeps_its_resolution_across_reruns(merchant, pay, today):
    pay(2000)
    SandboxChargeFactory(merchant_id=merchant.id, reference="att_unknown", amount=900)
    assert run_reconcile("--merchant", merchant.id, "--date", today)[0] == 1
    [item] = items(Classification.MISSING_IN_GATEWAY)

    from django.core.management import call_command

    call_command(
        "reconcile_resolve", item.id, "--reason", "test charge made by support in the dashboard", "--actor", "ada"
    )

    code, _ = run_reconcile("--merchant", merchant.id, "--date", today)
    item.refresh_from_db()
    assert code == 0
    assert (item.resolved_by, item.resolution_reason) == ("ada", "test charge made by support in the dashboard")
    assert item.classification == Classification.MISSING_IN_GATEWAY


def test_resolving_needs_a_reason_and_happens_once(merchant, pay, today):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    SandboxChargeFactory(merchant_id=merchant.id, reference="att_unknown", amount=900)
    run_reconcile("--merchant", merchant.id, "--date", today)
    [item] = items(Classification.MISSING_IN_GATEWAY)
    with pytest.raises(CommandError, match="reason"):
        call_command("reconcile_resolve", item.id, "--reason", "  ", "--actor", "ada")
    call_command("reconcile_resolve", item.id, "--reason", "known", "--actor", "ada")
    with pytest.raises(CommandError, match="was resolved by ada"):
        call_command("reconcile_resolve", item.id, "--reason", "again", "--actor", "bob")
    item.refresh_from_db()
    assert (item.resolved_by, item.resolution_reason) == ("ada", "known")
    # exactly one audit entry: the resolution; the refused ones rolled back with theirs
    from audit.models import AuditEntry

    [entry] = AuditEntry.objects.filter(action="command.reconcile_resolve")
    assert entry.after["changes"][0]["object_id"] == item.id and entry.merchant_id == merchant.id
    # the reconcile runs themselves are recorded before they read the processors
    assert AuditEntry.objects.filter(action="command.reconcile").count() == 1


def test_the_run_is_per_tenant_and_the_other_merchant_sees_nothing(merchant, other_merchant_keys, pay, today):
    pay(2000)
    code, out = reconcile_json("--merchant", other_merchant_keys.merchant_id, "--date", today)
    assert code == 0 and out["runs"][0]["lines"] == 0 and out["runs"][0]["items"] == []
    with transaction.atomic():
        assert not ReconciliationItem.objects.filter(merchant_id=other_merchant_keys.merchant_id).exists()


def test_a_day_still_running_has_no_payout_yet(merchant, pay, period):
    pay(2000)
    start, end = period
    report = settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=start, end=end)
    assert len(report.lines) == 1 and report.payouts == ()
