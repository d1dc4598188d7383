"""Regressions from review 3: payments waiting for the customer are never left without a poll,
status queries are always counted, and webhook-triggered resolutions clear stale operator flags.
All through the real sandbox processor; every scenario ends with the books checked."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from payments import services
from payments.models import AttemptStatus, Payment, PaymentAttempt
from payments.selectors import payments_due_for_sync, payments_flagged, payments_requires_action_due
from payments.tasks import payments_sync_due
from processors.base import WebhookEvent
from sandbox.services import sandbox_fault_plan_set
from tests.payments.schedule import clock_advance, schedule_fast

from .conftest import THREE_DS, assert_books_balance, card, sandbox_charges

pytestmark = pytest.mark.django_db

FAR = timedelta(days=365)


def attempts_of(payment_id: str) -> list[PaymentAttempt]:
    return list(PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id"))


def answer_without_returning(redirect_url: str) -> None:
    """The customer passes 3-D Secure on the sandbox's page; the browser never comes back."""
    answered = Client().post(urlsplit(redirect_url).path, {"result": "complete"})
    assert answered.status_code == 302, answered.content


@pytest.fixture
def challenged_and_answered(create_payment, settings):
    """A 3-D Secure payment whose customer answered the challenge but never returned."""
    settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = 0
    body = create_payment(payment_method=card(THREE_DS), amount=2500, confirm=True).json()
    assert body["status"] == "requires_action"
    answer_without_returning(body["next_action"]["redirect_to_url"]["url"])
    return body["id"]


def test_poll_whose_complete_is_not_processed_keeps_polling_until_it_completes(challenged_and_answered, merchant_keys):
    # given: the customer answered 3-D Secure; the next complete() provably fails once
    pid = challenged_and_answered
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["complete"])

    # when: the janitor polls (status: answered -> complete() -> not processed)
    payments_sync_due()

    # then: back in requires_action, but the poll is still scheduled on the waiting attempt
    payment = Payment.objects.get(pk=pid)
    assert payment.status == "requires_action" and payment.amount_received == 0
    waiting, failed_complete = attempts_of(pid)
    assert (waiting.status, failed_complete.operation, failed_complete.status) == (
        AttemptStatus.REQUIRES_ACTION,
        "complete",
        AttemptStatus.FAILED,
    )
    assert waiting.next_sync_at is not None
    assert payments_requires_action_due(now=timezone.now() + FAR) == [pid]

    # when: the next janitor run polls again
    payments_sync_due()

    # then: completed once; the sandbox captured exactly one charge; the books balance
    payment.refresh_from_db()
    assert (payment.status, payment.amount_received) == ("succeeded", 2500)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.amount_captured == 2500
    assert payments_requires_action_due(now=timezone.now() + FAR) == []
    assert not payments_flagged().filter(pk=pid).exists()
    assert_books_balance()


def test_webhook_resolve_whose_complete_is_not_processed_keeps_the_poll(
    challenged_and_answered, merchant_keys, django_capture_on_commit_callbacks
):
    # given: the customer answered; the next complete() provably fails once
    pid = challenged_and_answered
    (attempt,) = attempts_of(pid)
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["complete"])

    # when: a processor webhook triggers the resolution
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_1", type="charge.succeeded", processor_reference=attempt.processor_reference
            ),
        )

    # then: back in requires_action with its poll still scheduled
    assert Payment.objects.get(pk=pid).status == "requires_action"
    assert payments_requires_action_due(now=timezone.now() + FAR) == [pid]

    # when: the janitor polls
    payments_sync_due()

    # then: completed once, booked once
    payment = Payment.objects.get(pk=pid)
    assert (payment.status, payment.amount_received) == ("succeeded", 2500)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.amount_captured == 2500
    assert_books_balance()


def test_last_poll_whose_complete_is_not_processed_is_flagged_not_dropped(
    challenged_and_answered, merchant_keys, settings
):
    # given: only one poll allowed, and the customer answered; complete() provably fails
    settings.PAYMENTS_REQUIRES_ACTION_POLL_MAX = 1
    pid = challenged_and_answered
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["complete"])

    # when: the janitor's last poll finds the customer acted, but complete() does not get through
    payments_sync_due()

    # then: an operator is told (the processor may hold money), instead of silence
    assert Payment.objects.get(pk=pid).status == "requires_action"
    waiting = attempts_of(pid)[0]
    assert waiting.status == AttemptStatus.REQUIRES_ACTION and waiting.flagged_at is not None
    assert payments_flagged().filter(pk=pid).exists()
    assert_books_balance()


def test_connector_that_cannot_be_built_is_counted_and_flagged(create_payment, merchant_keys, settings):
    """The account's credentials can no longer be decrypted (a key rotation dropped their key)."""
    from processors.models import ProcessorAccount
    from processors.services import processor_account_create, processor_config_changed, processor_route_set

    # given: an unknown-outcome charge on a real (sandbox) processor account
    schedule_fast(settings)
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    account = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="Sandbox", credentials={}
    )
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    pid = create_payment(payment_method=card(), confirm=True).json()["id"]
    (attempt,) = attempts_of(pid)
    assert attempt.status == AttemptStatus.UNKNOWN
    # ... whose credentials are encrypted under a key this deployment no longer has
    ProcessorAccount.objects.filter(pk=account.id).update(credentials_encrypted="v1:k-dropped:AAAA:BBBB")
    processor_config_changed(merchant_id=merchant_keys.merchant_id)  # as a restart with the new keys would

    # when: the janitor's syncs run through the whole schedule (and more)
    for _ in range(5):
        clock_advance()
        services.payment_sync(payment_id=pid)

    # then: every try counted, the attempt flagged for an operator and no longer re-queued
    (attempt,) = attempts_of(pid)
    assert attempt.status == AttemptStatus.UNKNOWN
    assert attempt.sync_attempts >= 3 and attempt.flagged_at is not None
    assert payments_flagged().filter(pk=pid).exists()
    assert payments_due_for_sync(now=timezone.now() + FAR) == []
    assert Payment.objects.get(pk=pid).status == "processing"
    assert_books_balance()


def test_webhook_resolution_clears_the_stale_operator_flag(
    create_payment, merchant_keys, settings, django_capture_on_commit_callbacks
):
    # given: an unknown-outcome charge whose status schedule ran out (flagged)
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    pid = create_payment(payment_method=card(), amount=1500, confirm=True).json()["id"]
    (attempt,) = attempts_of(pid)
    PaymentAttempt.objects.filter(pk=attempt.id).update(flagged_at=timezone.now(), next_sync_at=None)
    assert payments_flagged().filter(pk=pid).exists()

    # when: the processor's webhook triggers a resolution
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_f",
                type="charge.succeeded",
                processor_reference=attempt.processor_reference or attempt.id,
            ),
        )

    # then: resolved, and the flag of the exhausted schedule is gone
    (attempt,) = attempts_of(pid)
    payment = Payment.objects.get(pk=pid)
    assert (payment.status, payment.amount_received) == ("succeeded", 1500)
    assert attempt.status == AttemptStatus.SUCCEEDED and attempt.flagged_at is None
    assert not payments_flagged().filter(pk=pid).exists()
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.amount_captured == 1500
    assert_books_balance()


def test_complete_with_unknown_outcome_whose_charge_is_approved_is_completed_by_sync(
    create_payment, merchant_keys, settings
):
    # given: the customer answered 3-D Secure and came back, but our complete() timed out unsent
    schedule_fast(settings)
    body = create_payment(payment_method=card(THREE_DS), amount=1800, confirm=True).json()
    pid = body["id"]
    answer_without_returning(body["next_action"]["redirect_to_url"]["url"])
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["complete"])
    assert services.payment_complete(payment_id=pid).status == "processing"
    complete = attempts_of(pid)[1]
    assert (complete.operation, complete.status) == ("complete", AttemptStatus.UNKNOWN)

    # when: the janitor's status sync finds the charge approved but not completed
    clock_advance()
    payment = services.payment_sync(payment_id=pid)

    # then: it finishes it with the same reference: one capture at the sandbox, booked once
    assert (payment.status, payment.amount_received) == ("succeeded", 1800)
    complete.refresh_from_db()
    assert complete.status == AttemptStatus.SUCCEEDED
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.amount_captured == 1800
    assert_books_balance()
