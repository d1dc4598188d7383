"""The sandbox's payouts are its own records: made once per currency and finished UTC day (the net
settled up to the day's cut-off less earlier payouts), never changed; a later movement goes into a
later payout; each arrives (``in_transit`` -> ``paid``) a day after its cut-off, and reconciliation
follows it there by id."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, transaction

from events.models import Event
from ledger.models import EntryKind, JournalEntry
from ledger.selectors import ledger_problems, ledger_report
from payments.reconciliation import ledger_check
from processors.base import SettlementUnavailable
from reconciliation.models import ReconciliationItem
from reconciliation.periods import day_start
from reconciliation.services import account_scope, settlement_fetch
from sandbox.connector import SandboxConnector
from sandbox.models import SandboxPayout, SandboxRefund
from sandbox.settlement import sandbox_fee

from .conftest import reconcile_sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def days():
    """(yesterday's period, today's period), UTC."""
    today = day_start(datetime.now(tz=UTC).date())
    return (today - timedelta(days=1), today), (today, today + timedelta(days=1))


def _snapshot():
    return (
        list(ReconciliationItem.objects.order_by("id").values()),
        JournalEntry.objects.count(),
        Event.objects.count(),
        list(SandboxPayout.objects.order_by("id").values()),
    )


def test_a_late_capture_goes_into_the_next_payout_and_the_reported_day_never_changes(
    merchant, pay, secret_client, days, sandbox_clock
):
    (y_start, y_end), (t_start, t_end) = days
    # Given yesterday: an automatic payment of 2000 and a manual one authorized, not captured
    paid = pay(2000, at=y_start + timedelta(hours=12))
    held = pay(5000, capture_method="manual", at=y_start + timedelta(hours=13))
    # and yesterday reconciled once it was over: its payout is made, in transit
    sandbox_clock(t_start + timedelta(hours=1))
    first = reconcile_sandbox(merchant, (y_start, y_end))
    y_payout_id = f"sbpayout_{y_start:%Y%m%d}_USD"
    [y_payout] = SandboxPayout.objects.all()
    assert (y_payout.payout_id, y_payout.amount) == (y_payout_id, 2000 - sandbox_fee(2000))
    assert "payout_refused" not in first.summary and first.summary == {"matched": 1}
    [posted] = JournalEntry.objects.filter(kind=EntryKind.PAYOUT)
    assert (posted.operation_ref, posted.amount) == (y_payout_id, 2000 - sandbox_fee(2000))
    assert not JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID).exists()
    payouts_before = list(SandboxPayout.objects.values())

    # When the manual payment is captured today, after yesterday was reconciled
    captured = secret_client.post(f"/v1/payments/{held.id}/capture", {}, format="json")
    assert captured.status_code == 200, captured.content
    before = _snapshot()
    assert before[3] == payouts_before

    # Then yesterday's payout is unchanged, and a rerun of yesterday changes nothing at all
    again = reconcile_sandbox(merchant, (y_start, y_end))
    assert again.id == first.id and again.summary == {"matched": 1}
    assert _snapshot() == before
    assert not ReconciliationItem.objects.filter(classification="payout_refused").exists()

    # When today is over and a day more, and today is reconciled
    sandbox_clock(t_end + timedelta(hours=1))
    today_run = reconcile_sandbox(merchant, (t_start, t_end))

    # Then the late capture is today's line and in today's payout (in transit), and yesterday's
    # payout, followed by id, arrived at the bank
    assert today_run.summary == {"matched": 1}
    payouts = {p.payout_id: p.amount for p in SandboxPayout.objects.all()}
    t_payout_id = f"sbpayout_{t_start:%Y%m%d}_USD"
    assert payouts == {y_payout_id: 2000 - sandbox_fee(2000), t_payout_id: 5000 - sandbox_fee(5000)}
    [arrived] = JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID)
    assert (arrived.operation_ref, arrived.amount) == (y_payout_id, 2000 - sandbox_fee(2000))
    assert not ReconciliationItem.objects.filter(classification="payout_refused").exists()

    # And ledger_report sums to the cent against the sandbox's settlement data of the two days
    # (both days together: the test made yesterday's payment today, and the ledger is append-only)
    report = settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=y_start, end=t_end)
    [row] = ledger_report(merchant_id=merchant.id, since=y_start, until=t_end)
    assert row.captured == sum(line.amount for line in report.lines if line.kind == "charge") == 7000
    assert row.fees == sum(line.fee for line in report.lines) == sandbox_fee(2000) + sandbox_fee(5000)
    assert row.net == sum(line.net for line in report.lines)
    assert row.paid_out + row.in_transit == sum(p.amount for p in report.payouts) == row.net
    assert (row.paid_out, row.in_transit) == (2000 - sandbox_fee(2000), 5000 - sandbox_fee(5000))
    assert ledger_check(merchant_id=merchant.id) == [] and ledger_problems(merchant_id=merchant.id) == []
    assert paid.amount_received == 2000


def test_a_payout_is_followed_from_in_transit_to_paid(merchant, pay, days, sandbox_clock):
    (y_start, y_end), (t_start, t_end) = days
    pay(3000, at=y_start + timedelta(hours=9))
    payout_id = f"sbpayout_{y_start:%Y%m%d}_USD"
    connector = SandboxConnector(account_id="sandbox", config={"merchant_id": merchant.id})

    # Given yesterday's payout made at today's first report: in transit until a day after its cut-off
    sandbox_clock(t_start + timedelta(hours=1))
    reconcile_sandbox(merchant, (y_start, y_end))
    assert connector.payout(payout_id=payout_id).status == "in_transit"
    assert JournalEntry.objects.filter(kind=EntryKind.PAYOUT, operation_ref=payout_id).count() == 1
    # Today's run (while it is still in transit) posts nothing more
    reconcile_sandbox(merchant, (t_start, t_end))
    assert not JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID).exists()

    # When the day has passed and today's run follows it
    sandbox_clock(t_end + timedelta(seconds=1))
    followed = connector.payout(payout_id=payout_id)
    run = reconcile_sandbox(merchant, (t_start, t_end))

    # Then it is paid, the books moved it from in transit to the bank once, and the run is clean
    assert (followed.status, followed.amount, followed.arrival) == (
        "paid",
        3000 - sandbox_fee(3000),
        t_end - timedelta(seconds=1),
    )
    [arrived] = JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID)
    assert (arrived.operation_ref, arrived.amount) == (payout_id, 3000 - sandbox_fee(3000))
    assert "payout_refused" not in run.summary
    reconcile_sandbox(merchant, (t_start, t_end))
    assert JournalEntry.objects.filter(kind=EntryKind.PAYOUT_PAID).count() == 1
    [row] = ledger_report(merchant_id=merchant.id, since=y_start, until=t_end)
    assert (row.in_transit, row.paid_out) == (0, 3000 - sandbox_fee(3000))
    with pytest.raises(SettlementUnavailable):
        connector.payout(payout_id="sbpayout_20000101_USD")


def test_a_negative_day_is_carried_into_the_next_payout(merchant, pay, refund, days, sandbox_clock):
    (y_start, _), (t_start, t_end) = days
    day_before = y_start - timedelta(days=1)
    first = pay(2000, at=day_before + timedelta(hours=9))
    sandbox_clock(y_start + timedelta(hours=1))
    settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=day_before, end=y_start)
    assert [p.amount for p in SandboxPayout.objects.all()] == [2000 - sandbox_fee(2000)]
    # Given yesterday only a refund of 1000 (net -1000) and today a charge of 4000
    refund(first, 1000)
    SandboxRefund.objects.update(created=y_start + timedelta(hours=10))
    pay(4000, at=t_start + timedelta(hours=10))
    # When both days are over
    sandbox_clock(t_end + timedelta(hours=1))
    settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=y_start, end=t_end)
    # Then yesterday has no payout and today's is today's net less yesterday's deficit
    amounts = {p.day: p.amount for p in SandboxPayout.objects.all()}
    assert amounts == {
        day_before.date(): 2000 - sandbox_fee(2000),
        t_start.date(): 4000 - sandbox_fee(4000) - 1000,
    }


def test_the_database_refuses_to_change_or_remove_a_payout(merchant, pay, days, sandbox_clock):
    (y_start, y_end), (t_start, _) = days
    pay(2000, at=y_start + timedelta(hours=9))
    sandbox_clock(t_start + timedelta(hours=1))
    settlement_fetch(scope=account_scope(merchant_id=merchant.id), start=y_start, end=y_end)
    with pytest.raises(DatabaseError), transaction.atomic():
        SandboxPayout.objects.update(amount=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        SandboxPayout.objects.all().delete()
    assert SandboxPayout.objects.get().amount == 2000 - sandbox_fee(2000)
