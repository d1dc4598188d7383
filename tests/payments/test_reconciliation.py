"""The books check (``payments.reconciliation.ledger_check``) against damage done on purpose behind
the services' back: each kind it exists for is reported, by name, with the figures that disagree.
Every scenario test ends with this check expecting ``[]``; these show that ``[]`` means something."""

import pytest
from django.db import transaction

from gateway.ids import new_id
from ledger.services import ledger_post_capture
from payments.models import Payment, Refund, RefundStatus
from payments.reconciliation import ledger_check
from tests.ledger.helpers import balance_check_disable, open_accounts, write_entry_directly

from .conftest import card

pytestmark = pytest.mark.django_db


@pytest.fixture
def captured(create_payment, merchant_keys) -> Payment:
    """A payment of 2000 captured through the API; the books check passes before any damage."""
    body = create_payment(payment_method=card(), confirm=True).json()
    assert body["status"] == "succeeded", body
    assert ledger_check() == []
    return Payment.objects.get(pk=body["id"])


def succeeded_refund_written(payment: Payment, *, amount: int) -> Refund:
    """A succeeded refund row written directly: no processor call, no ledger posting."""
    return Refund.objects.create(
        merchant_id=payment.merchant_id,
        payment=payment,
        livemode=payment.livemode,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED,
        processor="sandbox",
        processor_account_id="sandbox",
    )


def test_an_unbalanced_entry_is_reported(captured):
    # Given a capture entry for the payment whose lines do not balance (balance check off)
    balance_check_disable()
    accounts = open_accounts(captured.merchant_id, "USD")
    broken = write_entry_directly(
        merchant_id=captured.merchant_id,
        payment_id=captured.id,
        kind="capture",
        amount=500,
        currency="USD",
        ref="att_broken",
        lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 400)],
    )

    # Then the ledger's own problems come first, by their code, then what the payment disagrees with
    assert ledger_check() == [
        f"ledger: entry_unbalanced {broken.id}: debits, credits and amount differ, or fewer than 2 lines",
        f"ledger: trial_balance_nonzero {captured.merchant_id} test USD: debits 2500 - credits 2400 = 100",
        f"{captured.id}: ledger captured 2400 != amount_received 2000",
        f"{captured.id}: captured - refunded 2000 != ledger net 2400",
    ]


def test_a_capture_posted_twice_is_reported(captured):
    # Given the payment's capture posted a second time under another reference (a caller's bug)
    with transaction.atomic():
        ledger_post_capture(
            merchant_id=captured.merchant_id,
            livemode=False,
            payment_id=captured.id,
            capture_ref=new_id("att"),
            amount=2000,
            currency="USD",
        )

    # Then the ledger holds twice what the payment received
    assert ledger_check() == [
        f"{captured.id}: ledger captured 4000 != amount_received 2000",
        f"{captured.id}: captured - refunded 2000 != ledger net 4000",
    ]


def test_a_refund_without_its_ledger_entry_is_reported(captured):
    # Given a refund recorded as succeeded on the payment but never posted to the ledger
    succeeded_refund_written(captured, amount=500)
    Payment.objects.filter(pk=captured.id).update(amount_refunded=500)

    assert ledger_check() == [
        f"{captured.id}: ledger refunded 0 != amount_refunded 500",
        f"{captured.id}: captured - refunded 1500 != ledger net 2000",
    ]


def test_a_succeeded_refund_the_payment_does_not_count_is_reported(captured):
    # Given a succeeded refund row the payment's amount_refunded does not include
    succeeded_refund_written(captured, amount=300)

    assert ledger_check() == [f"{captured.id}: succeeded refunds 300 != amount_refunded 0"]


def test_amount_received_disagreeing_with_the_ledger_is_reported(captured):
    # Given a payment whose amount_received was changed behind the services' back
    Payment.objects.filter(pk=captured.id).update(amount_received=1500)

    assert ledger_check() == [
        f"{captured.id}: ledger captured 2000 != amount_received 1500",
        f"{captured.id}: captured - refunded 1500 != ledger net 2000",
    ]


def test_postings_for_a_payment_that_does_not_exist_are_reported(captured):
    # Given a (balanced) capture posted for a payment id no payment has
    with transaction.atomic():
        ledger_post_capture(
            merchant_id=captured.merchant_id,
            livemode=False,
            payment_id="pay_ghost",
            capture_ref="att_ghost",
            amount=700,
            currency="USD",
        )

    assert ledger_check() == ["pay_ghost: ledger postings for a payment that does not exist"]


def test_a_payment_booked_in_two_currencies_is_reported_and_the_rest_still_checked(captured, create_payment):
    # Given a second captured payment, and a EUR capture posted for the first (booked in USD)
    other = create_payment(payment_method=card(), confirm=True, amount=900).json()["id"]
    accounts = open_accounts(captured.merchant_id, "EUR")
    write_entry_directly(
        merchant_id=captured.merchant_id,
        payment_id=captured.id,
        kind="capture",
        amount=100,
        currency="EUR",
        ref="att_eur",
        lines=[(accounts["processor_receivable"], 100, 0), (accounts["merchant_balance"], 0, 100)],
    )
    Payment.objects.filter(pk=other).update(amount_received=800)

    # Then the mixed currencies are reported (the check does not stop there) and so is the other payment
    assert ledger_check() == [
        f"ledger: payment_mixed_currencies {captured.id}: entries in several currencies",
        f"{other}: ledger captured 900 != amount_received 800",
        f"{other}: captured - refunded 800 != ledger net 900",
    ]


def test_the_check_is_scoped_to_one_merchant(captured, other_merchant_keys):
    Payment.objects.filter(pk=captured.id).update(amount_received=1500)

    assert ledger_check(merchant_id=other_merchant_keys.merchant_id) == []
    assert len(ledger_check(merchant_id=captured.merchant_id)) == 2
