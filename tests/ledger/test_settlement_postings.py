"""Fees, disputes and payouts in the books: what each posts, at most once, balanced, and refused
when it contradicts what is already posted; ``ledger_report`` shows them per merchant and currency."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from gateway.errors import InvalidRequest
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.selectors import account_balances, ledger_problems, ledger_report
from ledger.services import (
    LedgerPostingError,
    ledger_post_dispute,
    ledger_post_dispute_fee,
    ledger_post_dispute_won,
    ledger_post_fee,
    ledger_post_payout,
)

from .factories import CapturePostingFactory, RefundPostingFactory

pytestmark = pytest.mark.django_db


def balances(merchant_id: str) -> dict[str, int]:
    return {b.code: b.balance for b in account_balances(merchant_id=merchant_id, currency="USD")}


def post(function, **kwargs):
    kwargs.setdefault("livemode", False)
    with transaction.atomic():
        return function(**kwargs)


@pytest.fixture
def capture(merchant):
    return CapturePostingFactory(merchant_id=merchant.id, amount=10_000, currency="USD")


def test_a_fee_moves_money_from_the_receivable_to_the_fee_account_once(capture, merchant):
    # When the fee of the charge is posted, twice
    first = post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_1",
        amount=320,
        currency="USD",
    )
    again = post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_1",
        amount=320,
        currency="USD",
    )
    # Then one entry, and the merchant balance is untouched (gross), the receivable is net of the fee
    assert again.id == first.id and first.kind == EntryKind.FEE
    assert balances(merchant.id) == {"processor_receivable": 9_680, "merchant_balance": 10_000, "processor_fees": 320}
    # And the same fee with another amount is refused
    with pytest.raises(LedgerPostingError):
        post(
            ledger_post_fee,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            fee_ref="txn_1",
            amount=321,
            currency="USD",
        )
    assert JournalEntry.objects.filter(kind=EntryKind.FEE).count() == 1


def test_a_negative_fee_is_a_fee_returned(capture, merchant):
    post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_1",
        amount=320,
        currency="USD",
    )
    entry = post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_2",
        amount=-20,
        currency="USD",
    )
    assert entry.kind == EntryKind.FEE_REVERSAL and entry.amount == 20
    assert balances(merchant.id)["processor_fees"] == 300
    with pytest.raises(InvalidRequest):
        post(
            ledger_post_fee,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            fee_ref="txn_3",
            amount=0,
            currency="USD",
        )


def test_a_dispute_withdraws_amount_and_fee_and_a_won_dispute_reinstates_them(capture, merchant):
    # When a dispute of 4000 with a 1500 fee opens
    opened = post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=4_000,
        currency="USD",
        fee=1_500,
    )
    # Then the receivable gives up 5500: 4000 to disputes, 1500 to fees, one balanced entry
    assert opened.kind == EntryKind.DISPUTE and opened.amount == 5_500
    assert sorted((line.account.code, line.debit, line.credit) for line in opened.lines.all()) == [
        (AccountCode.DISPUTES, 4_000, 0),
        (AccountCode.PROCESSOR_FEES, 1_500, 0),
        (AccountCode.PROCESSOR_RECEIVABLE, 0, 5_500),
    ]
    assert balances(merchant.id)["processor_receivable"] == 4_500
    # When it is won and the processor returns the amount but keeps its fee (twice: idempotent)
    won = post(
        ledger_post_dispute_won,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=4_000,
        currency="USD",
    )
    assert (
        post(
            ledger_post_dispute_won,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            dispute_id="dp_1",
            amount=4_000,
            currency="USD",
        ).id
        == won.id
    )
    # Then disputes are back to 0 and the fee stays
    assert balances(merchant.id) == {
        "processor_receivable": 8_500,
        "merchant_balance": 10_000,
        "processor_fees": 1_500,
        "disputes": 0,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_dispute_on_a_refunded_payment_is_recorded_but_never_beyond_what_was_captured(capture, merchant):
    # Given a payment of 10,000 refunded 7,000
    RefundPostingFactory(merchant_id=merchant.id, payment_id=capture.payment_id, capture=capture, amount=7_000)
    # When a dispute above what was captured is posted, it is refused
    with pytest.raises(LedgerPostingError, match=r"exceeds what payment \S+ captured"):
        post(
            ledger_post_dispute,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            dispute_id="dp_1",
            amount=10_001,
            currency="USD",
        )
    # When the processor withdraws the whole 10,000 anyway (it decides disputes, refunded or not)
    post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=10_000,
        currency="USD",
    )
    # Then the books record the withdrawal: the processor now owes 10,000 less than the refund left
    assert balances(merchant.id) == {
        "processor_receivable": -7_000,
        "merchant_balance": 3_000,
        "disputes": 10_000,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_refund_the_processor_made_over_disputed_money_is_booked_but_never_beyond_the_capture(capture, merchant):
    # Given a payment of 10,000 with an open dispute of 6,000 (payments refuses to ask for a refund
    # of that money: tests/disputes/test_books.py; a processor may still have made one)
    post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=6_000,
        currency="USD",
    )
    # When the processor reports a refund of 9,000: the books record what happened
    RefundPostingFactory(merchant_id=merchant.id, payment_id=capture.payment_id, capture=capture, amount=9_000)
    # Then more than was ever captured is still refused
    with pytest.raises(LedgerPostingError, match="exceeds what payment"):
        RefundPostingFactory(merchant_id=merchant.id, payment_id=capture.payment_id, capture=capture, amount=1_001)
    assert balances(merchant.id) == {"processor_receivable": -5_000, "merchant_balance": 1_000, "disputes": 6_000}
    assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_later_dispute_fee_posts_once_keyed_by_the_dispute_and_caps_what_a_win_returns(capture, merchant):
    # Given a dispute withdrawn before its fee was known
    post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=1_000,
        currency="USD",
    )
    # When the fee becomes known (1,500), twice
    first = post(
        ledger_post_dispute_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        fee=1_500,
        currency="USD",
    )
    again = post(
        ledger_post_dispute_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        fee=1_500,
        currency="USD",
    )
    # Then one fee entry keyed by the dispute, and the second call posts nothing
    assert again is None
    assert (first.kind, first.operation_ref, first.amount) == (EntryKind.FEE, "dp_1:fee:1500", 1_500)
    assert balances(merchant.id)["processor_fees"] == 1_500
    # And a win may return at most that fee
    with pytest.raises(LedgerPostingError, match="more than it withdrew"):
        post(
            ledger_post_dispute_won,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            dispute_id="dp_1",
            amount=1_000,
            fee=1_501,
            currency="USD",
        )
    post(
        ledger_post_dispute_won,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=1_000,
        fee=1_500,
        currency="USD",
    )
    assert balances(merchant.id) == {
        "processor_receivable": 10_000,
        "merchant_balance": 10_000,
        "processor_fees": 0,
        "disputes": 0,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_dispute_won_is_refused_if_never_opened_or_above_what_was_withdrawn(capture, merchant):
    with pytest.raises(LedgerPostingError, match="never posted"):
        post(
            ledger_post_dispute_won,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            dispute_id="dp_1",
            amount=100,
            currency="USD",
        )
    post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=1_000,
        currency="USD",
        fee=1_500,
    )
    with pytest.raises(LedgerPostingError, match="more than it withdrew"):
        post(
            ledger_post_dispute_won,
            merchant_id=merchant.id,
            payment_id=capture.payment_id,
            dispute_id="dp_1",
            amount=1_001,
            currency="USD",
        )
    assert not JournalEntry.objects.filter(kind=EntryKind.DISPUTE_REVERSAL).exists()


def test_a_payout_goes_to_transit_then_to_the_bank_each_step_once(capture, merchant):
    # When the payout is seen in transit, then paid (then seen paid again)
    post(
        ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="in_transit"
    )
    assert balances(merchant.id)["payouts_in_transit"] == 6_000
    post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="paid")
    post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="paid")
    # Then two entries (payout, payout_paid), no payment id, and the money is in the bank
    assert sorted(JournalEntry.objects.filter(operation_ref="po_1").values_list("kind", "payment_id")) == [
        ("payout", ""),
        ("payout_paid", ""),
    ]
    assert balances(merchant.id) == {
        "processor_receivable": 4_000,
        "merchant_balance": 10_000,
        "payouts_in_transit": 0,
        "bank": 6_000,
    }
    # And a failure after it arrived (Stripe: paid -> failed) reverses the arrival, once
    for _ in range(2):
        post(
            ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="failed"
        )
    assert balances(merchant.id) == {
        "processor_receivable": 10_000,
        "merchant_balance": 10_000,
        "payouts_in_transit": 0,
        "bank": 0,
    }
    assert JournalEntry.objects.filter(operation_ref="po_1", kind=EntryKind.PAYOUT_FAILED).count() == 1
    # And a stale "paid" read after the failure posts nothing new
    post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="paid")
    assert JournalEntry.objects.filter(operation_ref="po_1").count() == 3
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_failed_payout_returns_to_the_receivable(capture, merchant):
    post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=6_000, currency="USD", status="failed")
    assert balances(merchant.id)["processor_receivable"] == 10_000
    assert balances(merchant.id)["payouts_in_transit"] == 0


def test_an_unknown_payout_status_is_refused(merchant):
    with pytest.raises(InvalidRequest):
        post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=1, currency="USD", status="sent")


def test_ledger_report_shows_gross_refunds_fees_disputes_net_paid_out_and_in_transit(capture, merchant):
    day = datetime(2026, 3, 2, 12, tzinfo=UTC)
    RefundPostingFactory(merchant_id=merchant.id, payment_id=capture.payment_id, capture=capture, amount=1_000)
    post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_1",
        amount=320,
        currency="USD",
    )
    post(
        ledger_post_dispute,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        dispute_id="dp_1",
        amount=2_000,
        currency="USD",
        fee=1_500,
    )
    post(ledger_post_payout, merchant_id=merchant.id, payout_id="po_1", amount=3_000, currency="USD", status="paid")
    post(
        ledger_post_payout, merchant_id=merchant.id, payout_id="po_2", amount=1_000, currency="USD", status="in_transit"
    )
    # An entry that occurred on another day is outside a report of today
    post(
        ledger_post_fee,
        merchant_id=merchant.id,
        payment_id=capture.payment_id,
        fee_ref="txn_old",
        amount=7,
        currency="USD",
        occurred_at=day,
    )

    [row] = ledger_report(merchant_id=merchant.id, since=datetime(2026, 3, 3, tzinfo=UTC))
    assert (row.captured, row.refunded, row.fees, row.disputes, row.net) == (10_000, 1_000, 1_820, 2_000, 5_180)
    assert (row.paid_out, row.in_transit, row.at_processor) == (3_000, 1_000, 1_180)
    assert row.at_processor == row.net - row.paid_out - row.in_transit
    [old] = ledger_report(merchant_id=merchant.id, until=datetime(2026, 3, 3, tzinfo=UTC))
    assert (old.fees, old.net, old.entries) == (7, -7, 1)
