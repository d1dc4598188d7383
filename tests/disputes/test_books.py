"""What disputes do to the books and to refunds: the processor decides, the books record it.

* a chargeback on a refunded payment is recorded (Stripe and PayPal withdraw anyway);
* a posting the books still refuse never throws the dispute away: it is recorded and flagged;
* money a dispute holds cannot be refunded too (``charge_disputed`` / ``amount_too_large``);
* a dispute fee known only later posts as its own entry; a win returns at most the fee posted;
* a Stripe dispute fee in the settlement currency is not posted in the dispute's currency.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute
from disputes.services import dispute_apply
from events.models import Event
from ledger.models import EntryKind, JournalEntry
from ledger.selectors import account_balances, ledger_problems
from payments.models import Payment, Refund
from processors.base import DisputeInfo
from processors.stripe.disputes import stripe_dispute_info
from sandbox.disputes import sandbox_disputes_deliver

from .test_sandbox_and_api import _pay

pytestmark = pytest.mark.django_db

PLAIN_CARD = "4242424242424242"


def _info(**overrides) -> DisputeInfo:
    values = {
        "processor_reference": "du_test_1",
        "status": "needs_response",
        "raw_status": "needs_response",
        "amount": 1000,
        "currency": "EUR",
        "reason": "fraudulent",
        "charge_references": (),
    }
    return DisputeInfo(**{**values, **overrides})


def _apply(payment: dict, info: DisputeInfo, django_capture_on_commit_callbacks) -> Dispute:
    paid = Payment.objects.get(pk=payment["id"])
    with django_capture_on_commit_callbacks(execute=True):
        return dispute_apply(
            merchant_id=paid.merchant_id,
            processor="sandbox",
            processor_account_id="sandbox",
            payment_id=paid.id,
            info=info,
        )


def _balances(merchant_id: str) -> dict[str, int]:
    return {b.code: b.balance for b in account_balances(merchant_id=merchant_id, currency="EUR")}


def test_a_chargeback_on_a_refunded_payment_is_recorded_in_the_books(secret_client, django_capture_on_commit_callbacks):
    # Given a payment with the disputed card, refunded in full before the dispute arrives
    body = _pay(secret_client)
    refund = secret_client.post("/v1/refunds", {"payment": body["id"]}, format="json")
    assert refund.status_code == 201 and refund.json()["status"] == "succeeded"

    # When the processor withdraws the disputed amount anyway
    with django_capture_on_commit_callbacks(execute=True):
        assert sandbox_disputes_deliver(now=timezone.now() + timedelta(hours=1)) == 1

    # Then the dispute, its event and the withdrawal are all recorded, and the books are sound
    [dispute] = Dispute.objects.all()
    assert (dispute.amount, dispute.status, dispute.books_flagged_at) == (4200, "needs_response", None)
    assert dispute.funds_withdrawn_at is not None
    assert Event.objects.filter(type="dispute.created").count() == 1
    kinds = list(JournalEntry.objects.filter(payment_id=body["id"]).order_by("id").values_list("kind", "amount"))
    assert kinds == [("capture", 4200), ("refund", 4200), ("dispute", 4200 + 1500)]
    assert _balances(dispute.merchant_id)["processor_receivable"] == -(4200 + 1500)
    assert Payment.objects.get(pk=body["id"]).amount_disputed == 4200
    assert ledger_problems(merchant_id=dispute.merchant_id) == []


def test_a_dispute_the_books_refuse_is_recorded_and_flagged_not_lost(secret_client, django_capture_on_commit_callbacks):
    # Given a captured payment of 4,200
    body = _pay(secret_client, number=PLAIN_CARD)

    # When the processor reports a dispute of more than was ever captured (the books refuse it)
    dispute = _apply(body, _info(amount=5000), django_capture_on_commit_callbacks)

    # Then the dispute and its event are recorded, flagged for an operator, and nothing is posted
    dispute.refresh_from_db()
    assert (dispute.amount, dispute.status, dispute.funds_withdrawn_at) == (5000, "needs_response", None)
    assert dispute.books_flagged_at is not None and "exceeds" in dispute.books_problem
    assert Event.objects.filter(type="dispute.created").count() == 1
    assert not JournalEntry.objects.filter(kind=EntryKind.DISPUTE).exists()
    # And the payment shows what the processor holds back
    assert Payment.objects.get(pk=body["id"]).amount_disputed == 5000
    assert ledger_problems(merchant_id=dispute.merchant_id) == []


def test_a_disputed_payment_cannot_be_refunded_again(secret_client, django_capture_on_commit_callbacks):
    # Given a payment of 4,200 of which a dispute holds 1,000
    body = _pay(secret_client, number=PLAIN_CARD)
    _apply(body, _info(amount=1000), django_capture_on_commit_callbacks)

    # When more than the rest is refunded: refused, in the documented error shape, nothing written
    too_much = secret_client.post("/v1/refunds", {"payment": body["id"], "amount": 3201}, format="json")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    assert too_much.json()["error"]["param"] == "amount"
    assert not Refund.objects.exists()

    # When the rest is refunded: 3,200
    rest = secret_client.post("/v1/refunds", {"payment": body["id"]}, format="json")
    assert rest.status_code == 201 and rest.json()["amount"] == 3200

    # When anything more is refunded: charge_disputed
    again = secret_client.post("/v1/refunds", {"payment": body["id"], "amount": 1}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "charge_disputed"
    assert Refund.objects.count() == 1
    # Then the books hold the capture, the dispute and one refund of 3,200
    assert _balances(Payment.objects.get(pk=body["id"]).merchant_id)["merchant_balance"] == 1000
    assert ledger_problems() == []


def test_a_later_dispute_fee_posts_once_and_a_win_returns_at_most_what_was_posted(
    secret_client, django_capture_on_commit_callbacks
):
    # Given a dispute withdrawn before its fee was known
    body = _pay(secret_client, number=PLAIN_CARD)
    dispute = _apply(body, _info(amount=1000, fee=0), django_capture_on_commit_callbacks)
    assert dispute.funds_withdrawn_at is not None

    # When the processor reports the fee (1,500), twice
    for _ in range(2):
        _apply(body, _info(amount=1000, fee=1500), django_capture_on_commit_callbacks)

    # Then the fee is posted once, as its own entry keyed by the dispute
    [fee] = JournalEntry.objects.filter(kind=EntryKind.FEE)
    assert (fee.operation_ref, fee.amount) == (f"{dispute.id}:fee:1500", 1500)

    # When it is won and the processor says it returned more fee than it ever took (2,000)
    _apply(
        body,
        _info(amount=1000, fee=1500, fee_returned=2000, status="won", raw_status="won"),
        django_capture_on_commit_callbacks,
    )

    # Then the win reinstates the amount and returns the 1,500 posted, nothing is flagged
    dispute.refresh_from_db()
    assert dispute.funds_reinstated_at is not None and dispute.books_flagged_at is None
    [won] = JournalEntry.objects.filter(kind=EntryKind.DISPUTE_REVERSAL)
    assert won.amount == 1000 + 1500
    balances = _balances(dispute.merchant_id)
    assert (balances["disputes"], balances["processor_fees"], balances["processor_receivable"]) == (0, 0, 4200)
    assert ledger_problems() == []


def test_a_stripe_dispute_fee_in_the_settlement_currency_is_left_out():
    # Given a EUR dispute whose balance transaction (and fee) is in the account's USD
    dispute = {
        "object": "dispute",
        "id": "du_1",
        "amount": 1000,
        "currency": "eur",
        "status": "needs_response",
        "reason": "fraudulent",
        "charge": "ch_1",
        "balance_transactions": [{"amount": -1100, "currency": "usd", "fee": 1500}],
    }
    # When it is read
    info = stripe_dispute_info(dispute)
    # Then no fee is taken as EUR; the USD one is named for reconciliation
    assert (info.fee, info.fee_returned, info.fee_currency_elsewhere) == (0, 0, "USD")
    # And a fee in the dispute's own currency is read as before
    dispute["balance_transactions"] = [{"amount": -1000, "currency": "eur", "fee": 1500}]
    assert stripe_dispute_info(dispute).fee == 1500
