"""Real threads, each with its own PostgreSQL connection, racing on one payment's postings."""

import pytest
from django.db import transaction

from gateway.ids import new_id
from ledger.models import EntryKind, JournalEntry
from ledger.selectors import ledger_problems, payment_ledger_totals
from ledger.services import LedgerPostingError, ledger_post_capture, ledger_post_refund
from tests.races import run_together

from .factories import CapturePostingFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_capture_posted_concurrently_books_once(merchant):
    CapturePostingFactory(merchant_id=merchant.id)  # accounts exist: the race is on the entry itself
    payment_id = new_id("pay")

    def post(_):
        with transaction.atomic():
            return ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=payment_id,
                capture_ref=payment_id,
                amount=1000,
                currency="USD",
            ).id

    results = run_together(8, post)

    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert JournalEntry.objects.filter(payment_id=payment_id).count() == 1
    assert ledger_problems() == []


def test_the_same_capture_raced_with_other_figures_books_one_and_refuses_the_rest(merchant):
    # One statement inserts entry and lines; the unique constraint, not a lock, decides the winner.
    CapturePostingFactory(merchant_id=merchant.id)
    payment_id = new_id("pay")

    def post(i):
        with transaction.atomic():
            return ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=payment_id,
                capture_ref=payment_id,
                amount=1000 + i,
                currency="USD",
            ).amount

    results = run_together(6, post)

    booked = [r for r in results if isinstance(r, int)]
    assert len(booked) == 1, results
    assert sum(isinstance(r, LedgerPostingError) for r in results) == 5, results
    assert list(JournalEntry.objects.filter(payment_id=payment_id).values_list("amount", flat=True)) == booked
    assert ledger_problems() == []


def test_concurrent_refunds_never_exceed_the_capture(merchant):
    captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000)

    def post(i):
        with transaction.atomic():
            return ledger_post_refund(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=captured.payment_id,
                refund_id=f"re_{i}",
                amount=300,
                currency="USD",
            ).id

    results = run_together(10, post)

    assert sum(isinstance(r, str) for r in results) == 3
    assert sum(isinstance(r, LedgerPostingError) for r in results) == 7, results
    assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 3
    assert payment_ledger_totals() == {captured.payment_id: ("USD", 1000, 900)}
    assert ledger_problems() == []


def test_first_postings_of_a_new_currency_open_its_accounts_once(merchant):
    def post(i):
        with transaction.atomic():
            return ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=new_id("pay"),
                capture_ref="c",
                amount=7,
                currency="KWD",
            ).id

    results = run_together(6, post)

    assert all(isinstance(r, str) for r in results), results
    assert merchant.ledger_accounts.filter(currency="KWD").count() == 2
    assert ledger_problems() == []
