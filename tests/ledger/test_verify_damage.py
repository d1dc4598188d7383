"""``manage.py ledger_verify`` against books damaged on purpose, behind the database's own rules
(triggers off, a constraint dropped, rows written with the ORM): every kind of damage it exists
for is reported, by its code, and the command fails. A check no test has seen fail is not a check."""

import inspect
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from ledger import selectors
from ledger.services import ledger_post_dispute, ledger_post_payout

from .factories import CapturePostingFactory, RefundPostingFactory
from .helpers import balance_check_disable, open_accounts, operation_uniqueness_drop, write_entry_directly

pytestmark = pytest.mark.django_db

# The codes the tests below make ledger_verify report.
PROVEN_CODES = {
    "entry_unbalanced",
    "entry_foreign_account",
    "operation_posted_twice",
    "trial_balance_nonzero",
    "payment_mixed_currencies",
    "payment_over_refunded",
    "payout_settled_wrongly",
    "dispute_over_reinstated",
}


def verify_fails() -> list[tuple[str, str, str]]:
    """Run ledger_verify, which must fail; returns the (code, subject, detail) lines it printed."""
    out = StringIO()
    with pytest.raises(CommandError, match=r"Ledger verification failed: \d+ problem\(s\)"):
        call_command("ledger_verify", stdout=out)
    return [tuple(line.split("\t")) for line in out.getvalue().splitlines()]


@pytest.fixture
def sound(merchant):
    """A captured and partly refunded payment; the books pass before any damage is done."""
    capture = CapturePostingFactory(merchant_id=merchant.id, amount=1000, currency="USD")
    RefundPostingFactory(capture=capture, amount=300)
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert out.getvalue().startswith("Ledger OK"), out.getvalue()
    return capture


def test_an_unbalanced_entry_is_reported(sound, merchant):
    # Given a capture whose credit line is short (written with the balance check off)
    balance_check_disable()
    accounts = open_accounts(merchant.id, "USD")
    broken = write_entry_directly(
        merchant_id=merchant.id,
        payment_id="pay_short",
        kind="capture",
        amount=500,
        currency="USD",
        lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 450)],
    )

    # Then the entry and the merchant's non-zero trial balance are reported
    assert verify_fails() == [
        ("entry_unbalanced", broken.id, "debits, credits and amount differ, or fewer than 2 lines"),
        ("trial_balance_nonzero", f"{merchant.id} test USD", "debits 1800 - credits 1750 = 50"),
    ]


def test_a_refund_entry_without_its_lines_is_reported(sound, merchant):
    # Given a refund entry whose lines were never written
    balance_check_disable()
    bare = write_entry_directly(
        merchant_id=merchant.id, payment_id=sound.payment_id, kind="refund", amount=200, currency="USD", lines=[]
    )

    # Then the entry is reported (the balances are untouched: it has no lines)
    assert verify_fails() == [
        ("entry_unbalanced", bare.id, "debits, credits and amount differ, or fewer than 2 lines"),
    ]


def test_a_capture_posted_twice_is_reported(sound, merchant):
    # Given the same capture operation written a second time (the one-entry-per-operation rule dropped)
    operation_uniqueness_drop()
    accounts = open_accounts(merchant.id, "USD")
    write_entry_directly(
        merchant_id=merchant.id,
        payment_id=sound.payment_id,
        kind="capture",
        amount=1000,
        currency="USD",
        ref=sound.operation_ref,
        lines=[(accounts["processor_receivable"], 1000, 0), (accounts["merchant_balance"], 0, 1000)],
    )

    # Then it is reported, although every entry balances on its own
    assert verify_fails() == [
        ("operation_posted_twice", sound.payment_id, f"capture {sound.operation_ref} is posted 2 times"),
    ]


def test_a_line_on_another_merchants_account_is_reported(sound, merchant, other_merchant):
    # Given an entry of this merchant crediting another merchant's balance
    balance_check_disable()
    mine, theirs = open_accounts(merchant.id, "USD"), open_accounts(other_merchant.id, "USD")
    stray = write_entry_directly(
        merchant_id=merchant.id,
        payment_id="pay_stray",
        kind="capture",
        amount=100,
        currency="USD",
        lines=[(mine["processor_receivable"], 100, 0), (theirs["merchant_balance"], 0, 100)],
    )

    # Then the entry and both merchants' trial balances are reported
    assert sorted(verify_fails()) == sorted(
        [
            ("entry_foreign_account", stray.id, "a line posts to another merchant's, currency's or mode's account"),
            ("trial_balance_nonzero", f"{merchant.id} test USD", "debits 1400 - credits 1300 = 100"),
            ("trial_balance_nonzero", f"{other_merchant.id} test USD", "debits 0 - credits 100 = -100"),
        ]
    )


def test_a_payment_booked_in_two_currencies_is_reported(sound, merchant):
    # Given a balanced EUR capture for a payment booked in USD
    accounts = open_accounts(merchant.id, "EUR")
    write_entry_directly(
        merchant_id=merchant.id,
        payment_id=sound.payment_id,
        kind="capture",
        amount=100,
        currency="EUR",
        ref="second_capture",
        lines=[(accounts["processor_receivable"], 100, 0), (accounts["merchant_balance"], 0, 100)],
    )

    assert verify_fails() == [("payment_mixed_currencies", sound.payment_id, "entries in several currencies")]


def test_a_refund_beyond_the_capture_is_reported(sound, merchant):
    # Given a balanced refund entry taking the payment's refunds past its capture
    accounts = open_accounts(merchant.id, "USD")
    write_entry_directly(
        merchant_id=merchant.id,
        payment_id=sound.payment_id,
        kind="refund",
        amount=800,
        currency="USD",
        lines=[(accounts["merchant_balance"], 800, 0), (accounts["processor_receivable"], 0, 800)],
    )

    assert verify_fails() == [("payment_over_refunded", sound.payment_id, "refunded 1100 exceeds captured 1000")]


def test_every_problem_code_is_proven_by_a_test_here():
    # A new kind of problem ledger_verify reports needs its damage test above: this fails until then.
    source = "".join(
        inspect.getsource(f)
        for f in (selectors.ledger_problems, selectors._payment_problems, selectors._settlement_problems)
    )
    assert set(re.findall(r'LedgerProblem\(\s*"([a-z_]+)"', source)) == PROVEN_CODES


def test_a_payout_settled_twice_is_reported(sound, merchant):
    # Given a payout that arrived, and a second "arrived" entry written behind the service's back
    with transaction.atomic():
        ledger_post_payout(
            merchant_id=merchant.id, livemode=False, payout_id="po_1", amount=500, currency="USD", status="paid"
        )
    operation_uniqueness_drop()
    accounts = open_accounts(merchant.id, "USD")
    write_entry_directly(
        merchant_id=merchant.id,
        payment_id="",
        kind="payout_paid",
        amount=500,
        currency="USD",
        ref="po_1",
        lines=[(accounts["bank"], 500, 0), (accounts["payouts_in_transit"], 0, 500)],
    )
    # When ledger_verify runs / Then it names the payout
    assert (
        "payout_settled_wrongly",
        f"{merchant.id} po_1",
        "paid out 500, arrived 2 time(s) for 1000, failed 0 time(s) for 0",
    ) in (verify_fails())


def test_a_dispute_reinstated_beyond_what_it_withdrew_is_reported(sound, merchant):
    # Given a dispute of 200, and a "won" entry of 300 written behind the service's back
    with transaction.atomic():
        ledger_post_dispute(
            merchant_id=merchant.id,
            livemode=False,
            payment_id=sound.payment_id,
            dispute_id="dp_1",
            amount=200,
            currency="USD",
        )
    accounts = open_accounts(merchant.id, "USD")
    write_entry_directly(
        merchant_id=merchant.id,
        payment_id=sound.payment_id,
        kind="dispute_reversal",
        amount=300,
        currency="USD",
        ref="dp_1",
        lines=[(accounts["processor_receivable"], 300, 0), (accounts["disputes"], 0, 300)],
    )
    # When ledger_verify runs / Then it names the payment and the dispute
    problems = verify_fails()
    assert [p for p in problems if p[0] == "dispute_over_reinstated"] == [
        ("dispute_over_reinstated", sound.payment_id, "dispute dp_1 withdrew 200, reinstated 300 in 1 entries")
    ]
