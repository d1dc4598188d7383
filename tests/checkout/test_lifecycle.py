"""The session's life: the state table, one payment per session (constraints and real
threads), expiry by the sweep and on read, completion when the janitor resolves the payment."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from checkout import state
from checkout.models import CheckoutSession
from checkout.pay import checkout_outcome, checkout_pay
from checkout.services import checkout_session_sync
from checkout.tasks import checkout_sessions_sweep
from events.models import Event
from payments.models import Payment
from payments.services import payment_sync
from sandbox.services import sandbox_fault_plan_set
from tests.payments.factories import PaymentFactory

from .conftest import DECLINE, SUCCESS, assert_books_balance


def _card(number=SUCCESS):
    return {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "737"}}


def test_state_table_is_open_to_complete_or_expired_only():
    assert state.TRANSITIONS == {("open", "complete"): "complete", ("open", "expire"): "expired"}
    session = CheckoutSession(status="complete")
    with pytest.raises(Exception, match="cannot expire"):
        state.session_transition(session, "expire")


@pytest.mark.django_db
def test_the_database_refuses_two_sessions_on_one_payment(create_session, merchant):
    first, second = create_session(), create_session()
    payment = PaymentFactory(merchant=merchant)
    CheckoutSession.objects.filter(pk=first["id"]).update(payment=payment)
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=second["id"]).update(payment=payment)


@pytest.mark.django_db
def test_the_database_refuses_complete_without_a_paid_payment(create_session):
    session = create_session()
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=session["id"]).update(status="complete")
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=session["id"]).update(payment_status="paid")


@pytest.mark.django_db
def test_decline_then_success_reuses_the_one_payment(create_session):
    session = create_session()
    declined = checkout_pay(session_id=session["id"], payment_method=_card(DECLINE), method_type="card")
    assert declined.kind == "declined" and "declined" in declined.message
    paid = checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card")
    assert paid.kind == "complete" and paid.redirect_url.endswith(session["id"])
    assert Payment.objects.count() == 1
    again = checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card")
    assert again.kind == "complete" and Payment.objects.get().amount_received == 2500
    assert Event.objects.filter(type="checkout.session.completed").count() == 1
    assert_books_balance()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_submits_from_many_threads_make_one_successful_payment(create_session):
    session = create_session()
    barrier, outcomes = threading.Barrier(6), []

    def submit():
        try:
            barrier.wait()
            outcomes.append(checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card").kind)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 6 and set(outcomes) <= {"complete", "processing"}, outcomes
    payment = Payment.objects.get()
    assert payment.status == "succeeded" and payment.attempts.filter(operation="authorize").count() == 1
    row = CheckoutSession.objects.get(pk=session["id"])
    assert (row.status, row.payment_id) == ("complete", payment.id)
    assert Event.objects.filter(type="checkout.session.completed").count() == 1
    assert_books_balance()


@pytest.mark.django_db
def test_the_sweep_expires_due_sessions_and_cancels_their_unpaid_payment(create_session):
    session = create_session()
    checkout_pay(session_id=session["id"], payment_method=_card(DECLINE), method_type="card")
    fresh = create_session()
    CheckoutSession.objects.filter(pk=session["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert checkout_sessions_sweep() == 1  # eager in tests: the sync task ran
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "expired" and Payment.objects.get().status == "canceled"
    assert CheckoutSession.objects.get(pk=fresh["id"]).status == "open"
    assert checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card").kind == "closed"
    assert Payment.objects.get().amount_received == 0


@pytest.mark.django_db
def test_a_payment_the_janitor_resolves_completes_the_session_by_the_sweep(create_session, merchant):
    session = create_session()
    sandbox_fault_plan_set(merchant_id=merchant.id, count=1, mode="unknown_after_charge", operations=["authorize"])
    outcome = checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card")
    assert outcome.kind == "processing"
    assert CheckoutSession.objects.get(pk=session["id"]).payment_pending
    payment_sync(payment_id=Payment.objects.get().id, scheduled=False)
    # Even past its expiry: the money moved, so the session completes instead of expiring.
    CheckoutSession.objects.filter(pk=session["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    checkout_sessions_sweep()
    row = CheckoutSession.objects.get(pk=session["id"])
    assert (row.status, row.payment_status, row.payment_pending) == ("complete", "paid", False)
    assert_books_balance()


def test_a_payment_paid_after_the_pages_sync_is_followed_never_offered_again(create_session, merchant):
    """Two tabs: the second's sync read the payment processing, then the first tab's confirmation
    succeeded before the second built its page. The stress run of 2026-12-07 showed it the card
    form again, with nothing polling, although the session was paid a moment later."""
    # Given a session whose payment is with the processor, as the second tab's sync saw it
    session = create_session()
    sandbox_fault_plan_set(merchant_id=merchant.id, count=1, mode="unknown_after_charge", operations=["authorize"])
    checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card")
    seen = checkout_session_sync(session_id=session["id"])
    assert seen.is_open and seen.payment_pending
    # When the payment succeeds before that tab decides what to show
    payment_sync(payment_id=Payment.objects.get().id, scheduled=False)
    assert Payment.objects.get().status == "succeeded"
    # Then it follows the payment (polls, and the next sync completes the session): no form again
    assert checkout_outcome(seen).kind == "processing"
    followed = checkout_outcome(checkout_session_sync(session_id=session["id"]))
    assert followed.kind == "complete" and followed.redirect_url


@pytest.mark.django_db
def test_expire_is_refused_while_the_payment_is_with_the_processor(create_session, merchant, secret_client):
    session = create_session()
    sandbox_fault_plan_set(merchant_id=merchant.id, count=1, mode="unknown", operations=["authorize"])
    assert checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card").kind == "processing"
    response = secret_client.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert response.status_code == 409 and response.json()["error"]["code"] == "checkout_session_payment_in_progress"
    assert checkout_session_sync(session_id=session["id"]).status == "open"


@pytest.mark.django_db
def test_manual_capture_completes_as_authorized(create_session):
    session = create_session(capture_method="manual")
    assert checkout_pay(session_id=session["id"], payment_method=_card(), method_type="card").kind == "complete"
    row = CheckoutSession.objects.get(pk=session["id"])
    assert (row.payment_status, Payment.objects.get().status) == ("authorized", "requires_capture")


@pytest.mark.django_db
def test_a_method_type_the_session_does_not_offer_is_refused(create_session):
    session = create_session(payment_method_types=["card"])
    outcome = checkout_pay(session_id=session["id"], payment_method={"type": "paypal"}, method_type="paypal")
    assert outcome.kind == "invalid" and not Payment.objects.exists()


@pytest.mark.django_db
def test_a_retry_of_a_crashed_expire_answers_the_session_not_its_payment(
    create_session, secret_client, monkeypatch, settings
):
    # Given a session whose payment was declined (cancelable), and an expire request that dies
    # after canceling the payment, before the session's own change (a worker killed mid-request)
    from django.db.models import F

    from gateway.models import IdempotencyKey

    session = create_session()
    checkout_pay(session_id=session["id"], payment_method=_card(DECLINE), method_type="card")

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("checkout.services.checkout_session_lock", die)
    with pytest.raises(SystemExit):
        secret_client.post(f"/v1/checkout/sessions/{session['id']}/expire", HTTP_IDEMPOTENCY_KEY="expire-1")
    monkeypatch.undo()
    assert Payment.objects.get().status == "canceled"
    row = IdempotencyKey.objects.get(key="expire-1")
    assert row.recovery_object_id == ""  # the payment is not what this endpoint answers with

    # When the request deadline has passed and the client retries with the same key
    back = timedelta(seconds=settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS + 1)
    IdempotencyKey.objects.filter(key="expire-1").update(locked_at=F("locked_at") - back)
    retry = secret_client.post(f"/v1/checkout/sessions/{session['id']}/expire", HTTP_IDEMPOTENCY_KEY="expire-1")

    # Then the request runs again and answers the expired session
    assert retry.status_code == 200, retry.content
    assert (retry.json()["object"], retry.json()["id"], retry.json()["status"]) == (
        "checkout_session",
        session["id"],
        "expired",
    )
