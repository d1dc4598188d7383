"""Fees, disputes and payouts in the books: what each posts, at most once, balanced, and refused
when it contradicts what is already posted; ``ledger_report`` shows them per merchant and currency.

``capture`` is a payment of 10,000 USD captured in test mode; ``settlement`` posts its fees, disputes
and payouts through the ledger services (tests/ledger/conftest.py)."""

from datetime import UTC, datetime

import pytest

from gateway.errors import InvalidRequest
from ledger.models import AccountCode, EntryKind, JournalEntry
from ledger.selectors import account_balances, ledger_problems, ledger_report
from ledger.services import LedgerPostingError

from .factories import RefundPostingFactory, SettlementPostings

pytestmark = pytest.mark.django_db


def balances(merchant_id: str) -> dict[str, int]:
    return {b.code: b.balance for b in account_balances(merchant_id=merchant_id, currency="USD")}


def test_a_fee_moves_money_from_the_receivable_to_the_fee_account_once(settlement, merchant):
    # When the fee of the charge is posted, twice
    first = settlement.fee(fee_ref="txn_1", amount=320)
    again = settlement.fee(fee_ref="txn_1", amount=320)
    # Then one entry, and the merchant balance is untouched (gross), the receivable is net of the fee
    assert again.id == first.id and first.kind == EntryKind.FEE
    assert balances(merchant.id) == {"processor_receivable": 9_680, "merchant_balance": 10_000, "processor_fees": 320}
    # And the same fee with another amount is refused
    with pytest.raises(LedgerPostingError):
        settlement.fee(fee_ref="txn_1", amount=321)
    assert JournalEntry.objects.filter(kind=EntryKind.FEE).count() == 1


def test_a_negative_fee_is_a_fee_returned(settlement, merchant):
    settlement.fee(fee_ref="txn_1", amount=320)
    entry = settlement.fee(fee_ref="txn_2", amount=-20)
    assert entry.kind == EntryKind.FEE_REVERSAL and entry.amount == 20
    assert balances(merchant.id)["processor_fees"] == 300
    with pytest.raises(InvalidRequest):
        settlement.fee(fee_ref="txn_3", amount=0)


def test_a_dispute_withdraws_amount_and_fee_and_a_won_dispute_reinstates_them(settlement, merchant):
    # When a dispute of 4000 with a 1500 fee opens
    opened = settlement.dispute(dispute_id="dp_1", amount=4_000, fee=1_500)
    # Then the receivable gives up 5500: 4000 to disputes, 1500 to fees, one balanced entry
    assert opened.kind == EntryKind.DISPUTE and opened.amount == 5_500
    assert sorted((line.account.code, line.debit, line.credit) for line in opened.lines.all()) == [
        (AccountCode.DISPUTES, 4_000, 0),
        (AccountCode.PROCESSOR_FEES, 1_500, 0),
        (AccountCode.PROCESSOR_RECEIVABLE, 0, 5_500),
    ]
    assert balances(merchant.id)["processor_receivable"] == 4_500
    # When it is won and the processor returns the amount but keeps its fee (twice: idempotent)
    won = settlement.dispute_won(dispute_id="dp_1", amount=4_000)
    assert settlement.dispute_won(dispute_id="dp_1", amount=4_000).id == won.id
    # Then disputes are back to 0 and the fee stays
    assert balances(merchant.id) == {
        "processor_receivable": 8_500,
        "merchant_balance": 10_000,
        "processor_fees": 1_500,
        "disputes": 0,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_dispute_on_a_refunded_payment_is_recorded_but_never_beyond_what_was_captured(capture, settlement, merchant):
    # Given a payment of 10,000 refunded 7,000
    RefundPostingFactory(capture=capture, amount=7_000)
    # When a dispute above what was captured is posted, it is refused
    with pytest.raises(LedgerPostingError, match=r"exceeds what payment \S+ captured"):
        settlement.dispute(dispute_id="dp_1", amount=10_001)
    # When the processor withdraws the whole 10,000 anyway (it decides disputes, refunded or not)
    settlement.dispute(dispute_id="dp_1", amount=10_000)
    # Then the books record the withdrawal: the processor now owes 10,000 less than the refund left
    assert balances(merchant.id) == {
        "processor_receivable": -7_000,
        "merchant_balance": 3_000,
        "disputes": 10_000,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_refund_the_processor_made_over_disputed_money_is_booked_but_never_beyond_the_capture(
    capture, settlement, merchant
):
    # Given a payment of 10,000 with an open dispute of 6,000 (payments refuses to ask for a refund
    # of that money: tests/disputes/test_books.py; a processor may still have made one)
    settlement.dispute(dispute_id="dp_1", amount=6_000)
    # When the processor reports a refund of 9,000: the books record what happened
    RefundPostingFactory(capture=capture, amount=9_000)
    # Then more than was ever captured is still refused
    with pytest.raises(LedgerPostingError, match="exceeds what payment"):
        RefundPostingFactory(capture=capture, amount=1_001)
    assert balances(merchant.id) == {"processor_receivable": -5_000, "merchant_balance": 1_000, "disputes": 6_000}
    assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_later_dispute_fee_posts_once_keyed_by_the_dispute_and_caps_what_a_win_returns(settlement, merchant):
    # Given a dispute withdrawn before its fee was known
    settlement.dispute(dispute_id="dp_1", amount=1_000)
    # When the fee becomes known (1,500), twice
    first = settlement.dispute_fee(dispute_id="dp_1", fee=1_500)
    again = settlement.dispute_fee(dispute_id="dp_1", fee=1_500)
    # Then one fee entry keyed by the dispute, and the second call posts nothing
    assert again is None
    assert (first.kind, first.operation_ref, first.amount) == (EntryKind.FEE, "dp_1:fee:1500", 1_500)
    assert balances(merchant.id)["processor_fees"] == 1_500
    # And a win may return at most that fee
    with pytest.raises(LedgerPostingError, match="more than it withdrew"):
        settlement.dispute_won(dispute_id="dp_1", amount=1_000, fee=1_501)
    settlement.dispute_won(dispute_id="dp_1", amount=1_000, fee=1_500)
    assert balances(merchant.id) == {
        "processor_receivable": 10_000,
        "merchant_balance": 10_000,
        "processor_fees": 0,
        "disputes": 0,
    }
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_dispute_won_is_refused_if_never_opened_or_above_what_was_withdrawn(settlement):
    with pytest.raises(LedgerPostingError, match="never posted"):
        settlement.dispute_won(dispute_id="dp_1", amount=100)
    settlement.dispute(dispute_id="dp_1", amount=1_000, fee=1_500)
    with pytest.raises(LedgerPostingError, match="more than it withdrew"):
        settlement.dispute_won(dispute_id="dp_1", amount=1_001)
    assert not JournalEntry.objects.filter(kind=EntryKind.DISPUTE_REVERSAL).exists()


def test_a_payout_goes_to_transit_then_to_the_bank_each_step_once(settlement, merchant):
    # When the payout is seen in transit, then paid (then seen paid again)
    settlement.payout(payout_id="po_1", amount=6_000, status="in_transit")
    assert balances(merchant.id)["payouts_in_transit"] == 6_000
    settlement.payout(payout_id="po_1", amount=6_000, status="paid")
    settlement.payout(payout_id="po_1", amount=6_000, status="paid")
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
        settlement.payout(payout_id="po_1", amount=6_000, status="failed")
    assert balances(merchant.id) == {
        "processor_receivable": 10_000,
        "merchant_balance": 10_000,
        "payouts_in_transit": 0,
        "bank": 0,
    }
    assert JournalEntry.objects.filter(operation_ref="po_1", kind=EntryKind.PAYOUT_FAILED).count() == 1
    # And a stale "paid" read after the failure posts nothing new
    settlement.payout(payout_id="po_1", amount=6_000, status="paid")
    assert JournalEntry.objects.filter(operation_ref="po_1").count() == 3
    assert ledger_problems(merchant_id=merchant.id) == []


def test_a_failed_payout_returns_to_the_receivable(settlement, merchant):
    settlement.payout(payout_id="po_1", amount=6_000, status="failed")
    assert balances(merchant.id)["processor_receivable"] == 10_000
    assert balances(merchant.id)["payouts_in_transit"] == 0


def test_an_unknown_payout_status_is_refused(merchant):
    with pytest.raises(InvalidRequest):
        SettlementPostings(merchant_id=merchant.id).payout(payout_id="po_1", amount=1, status="sent")


def test_ledger_report_shows_gross_refunds_fees_disputes_net_paid_out_and_in_transit(capture, settlement, merchant):
    day = datetime(2026, 3, 2, 12, tzinfo=UTC)
    RefundPostingFactory(capture=capture, amount=1_000)
    settlement.fee(fee_ref="txn_1", amount=320)
    settlement.dispute(dispute_id="dp_1", amount=2_000, fee=1_500)
    settlement.payout(payout_id="po_1", amount=3_000, status="paid")
    settlement.payout(payout_id="po_2", amount=1_000, status="in_transit")
    # An entry that occurred on another day is outside a report of today
    settlement.fee(fee_ref="txn_old", amount=7, occurred_at=day)

    [row] = ledger_report(merchant_id=merchant.id, since=datetime(2026, 3, 3, tzinfo=UTC))
    assert (row.captured, row.refunded, row.fees, row.disputes, row.net) == (10_000, 1_000, 1_820, 2_000, 5_180)
    assert (row.paid_out, row.in_transit, row.at_processor) == (3_000, 1_000, 1_180)
    assert row.at_processor == row.net - row.paid_out - row.in_transit
    [old] = ledger_report(merchant_id=merchant.id, until=datetime(2026, 3, 3, tzinfo=UTC))
    assert (old.fees, old.net, old.entries) == (7, -7, 1)
