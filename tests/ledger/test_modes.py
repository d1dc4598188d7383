"""Test and live money are separate books: accounts and entries carry ``livemode``, reports and
verification keep the modes apart, and a payment is booked in one mode only."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from gateway.ids import new_id
from ledger.models import JournalEntry, LedgerAccount
from ledger.selectors import account_balances, ledger_problems, ledger_report, trial_balance
from ledger.services import LedgerPostingError, ledger_post_capture, ledger_post_payout, ledger_post_refund

pytestmark = pytest.mark.django_db


def _capture(merchant_id: str, *, livemode: bool, amount: int, payment_id: str | None = None) -> JournalEntry:
    payment_id = payment_id or new_id("pay")
    with transaction.atomic():
        return ledger_post_capture(
            merchant_id=merchant_id,
            livemode=livemode,
            payment_id=payment_id,
            capture_ref=payment_id,
            amount=amount,
            currency="USD",
        )


def test_test_and_live_money_never_share_an_account_or_a_report_row(merchant):
    # Given a live capture of 1,000 and a test capture of 50 for one merchant in one currency
    live = _capture(merchant.id, livemode=True, amount=1_000)
    test = _capture(merchant.id, livemode=False, amount=50)
    # And a test (sandbox) payout of 50, with the same id a live payout could have
    with transaction.atomic():
        ledger_post_payout(
            merchant_id=merchant.id, livemode=False, payout_id="po_1", amount=50, currency="USD", status="paid"
        )

    # Then each mode has its own accounts, and each entry is on its own mode's
    assert (live.livemode, test.livemode) == (True, False)
    assert set(LedgerAccount.objects.filter(merchant=merchant).values_list("livemode", flat=True)) == {True, False}
    for entry in (live, test):
        assert {line.account.livemode for line in entry.lines.all()} == {entry.livemode}
    assert {b.code: b.balance for b in account_balances(merchant_id=merchant.id, livemode=True)} == {
        "processor_receivable": 1_000,
        "merchant_balance": 1_000,
    }
    assert {b.code: b.balance for b in account_balances(merchant_id=merchant.id)}["bank"] == 50
    # And the report shows one row per mode; a filter shows one mode only
    rows = {(row.livemode, row.currency): row for row in ledger_report(merchant_id=merchant.id)}
    assert (rows[(True, "USD")].captured, rows[(True, "USD")].paid_out) == (1_000, 0)
    assert (rows[(False, "USD")].captured, rows[(False, "USD")].paid_out) == (50, 50)
    assert [row.livemode for row in ledger_report(merchant_id=merchant.id, livemode=True)] == [True]
    assert {(row.livemode, row.difference) for row in trial_balance(merchant_id=merchant.id)} == {
        (True, 0),
        (False, 0),
    }
    out = StringIO()
    call_command("ledger_report", "--json", "--livemode", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["mode"] == "live" and [(r["mode"], r["captured"]) for r in payload["rows"]] == [("live", 1_000)]
    out = StringIO()
    call_command("ledger_verify", "--testmode", stdout=out)
    assert "test mode" in out.getvalue()
    assert ledger_problems() == []


def test_a_payment_is_booked_in_one_mode_only(merchant):
    # Given a payment booked in live mode
    live = _capture(merchant.id, livemode=True, amount=1_000)
    # When a refund of it is posted as test money, it is refused and nothing is written
    with pytest.raises(LedgerPostingError, match="live mode"), transaction.atomic():
        ledger_post_refund(
            merchant_id=merchant.id,
            livemode=False,
            payment_id=live.payment_id,
            refund_id="re_1",
            amount=10,
            currency="USD",
        )
    assert JournalEntry.objects.filter(payment_id=live.payment_id).count() == 1


def test_the_mode_must_be_a_boolean(merchant):
    with pytest.raises(Exception, match="livemode"), transaction.atomic():
        ledger_post_capture(
            merchant_id=merchant.id, livemode="yes", payment_id="pay_1", capture_ref="c", amount=1, currency="USD"
        )
