"""Ambiguous and failed processor outcomes: routing fallback, unknown outcomes resolved by status
sync (the janitor), crash recovery, operator flags and processor webhooks. All through the real
sandbox processor with its deterministic fault plans; every scenario ends with the books checked."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from ledger.selectors import payment_ledger_net
from payments import services
from payments.models import AttemptStatus, Payment, PaymentAttempt, ProcessorState, Refund
from payments.selectors import payments_due_for_sync, payments_flagged, payments_requires_action_due
from payments.services.settlement import attempt_settle
from payments.tasks import payments_sync_due
from processors.base import Outcome, ProcessorResult, WebhookEvent
from processors.services import processor_account_create, processor_route_set
from sandbox.book import charge_result
from sandbox.models import SandboxCharge
from sandbox.services import sandbox_fault_plan_set
from tests.payments.schedule import clock_advance, schedule_fast

from .conftest import DECLINE, THREE_DS, assert_books_balance, card, error_of, sandbox_charges, sandbox_refunds
from .factories import InFlightAttemptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_sync(settings):
    """The janitor's schedule cut to steps of a minute (``clock_advance`` moves a step)."""
    schedule_fast(settings)
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    return settings


@pytest.fixture
def two_routes(merchant_keys):
    """The merchant routes cards through two processor accounts (both on the sandbox)."""
    first = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="Primary", credentials={}
    )
    second = processor_account_create(
        merchant_id=merchant_keys.merchant_id, processor="sandbox", display_name="Backup", credentials={}
    )
    processor_route_set(
        merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[first.id, second.id]
    )
    return first.id, second.id


def attempts_of(payment_id: str) -> list[PaymentAttempt]:
    return list(PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id"))


# --- routing fallback and unavailability -----------------------------------------------------------


def test_falls_back_to_the_next_route_when_the_first_provably_failed(create_payment, merchant_keys, two_routes):
    first, second = two_routes
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["authorize"])

    body = create_payment(payment_method=card(), confirm=True).json()

    assert body["status"] == "succeeded"
    attempts = attempts_of(body["id"])
    assert [(a.processor_account_id, a.status) for a in attempts] == [(first, "failed"), (second, "succeeded")]
    assert attempts[0].error_code == "processor_unavailable"
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert charge.reference == attempts[1].id
    assert Payment.objects.get(pk=body["id"]).processor_account_id == second
    assert_books_balance()


def test_never_falls_back_after_an_unknown_outcome(create_payment, merchant_keys, two_routes):
    first, _ = two_routes
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["authorize"])

    body = create_payment(payment_method=card(), confirm=True).json()

    assert body["status"] == "processing"
    (attempt,) = attempts_of(body["id"])
    assert (attempt.processor_account_id, attempt.status) == (first, "unknown")
    assert attempt.next_sync_at is not None and attempt.flagged_at is None
    assert sandbox_charges(merchant_keys.merchant_id) == []
    assert_books_balance()


def test_every_route_down_is_503_and_the_payment_stays_retryable(
    create_payment, secret_client, merchant_keys, two_routes
):
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=2, mode="failed", operations=["authorize"])

    response = create_payment(payment_method=card(), confirm=True, expected=503)

    error = error_of(response)
    assert (error["type"], error["code"]) == ("api_error", "processor_unavailable")
    payment = Payment.objects.get(pk=error["payment"]["id"])
    assert payment.status == "requires_payment_method" and payment.amount_received == 0
    assert [a.status for a in attempts_of(payment.id)] == ["failed", "failed"]
    assert sandbox_charges(merchant_keys.merchant_id) == []
    assert payment_ledger_net(payment_id=payment.id) == {}

    retry = secret_client.post(f"/v1/payments/{payment.id}/confirm", {"payment_method": card()}, format="json")

    assert retry.status_code == 200 and retry.json()["status"] == "succeeded"
    assert_books_balance()


def test_capture_with_the_processor_down_keeps_the_authorization(create_payment, secret_client, merchant_keys):
    body = create_payment(capture_method="manual", payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["capture"])

    failed = secret_client.post(f"/v1/payments/{body['id']}/capture", {}, format="json")

    assert failed.status_code == 503 and error_of(failed)["code"] == "processor_unavailable"
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_capturable, payment.amount_received) == ("requires_capture", 2000, 0)
    again = secret_client.post(f"/v1/payments/{body['id']}/capture", {}, format="json")
    assert again.status_code == 200 and again.json()["amount_received"] == 2000
    assert_books_balance()


# --- unknown outcomes and the janitor ----------------------------------------------------------------


def test_unknown_outcome_then_janitor_finds_nothing_happened(create_payment, merchant_keys, fast_sync):
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["authorize"])
    body = create_payment(payment_method=card(), confirm=True).json()
    assert body["status"] == "processing"
    assert payments_due_for_sync() == []  # the first status query is a step away
    clock_advance()
    assert payments_due_for_sync() == [body["id"]]

    enqueued = payments_sync_due()

    assert enqueued == 1
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_payment_method"
    assert payment.last_payment_error["code"] == "processor_unavailable"
    (attempt,) = attempts_of(payment.id)
    assert attempt.status == AttemptStatus.FAILED and attempt.sync_attempts == 1  # the one status query
    assert payments_due_for_sync() == []
    assert_books_balance()


def test_lost_reply_after_the_charge_is_settled_by_status_sync_without_charging_twice(
    create_payment, merchant_keys, fast_sync
):
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = create_payment(payment_method=card(), confirm=True).json()
    assert body["status"] == "processing"
    assert payment_ledger_net(payment_id=body["id"]) == {}

    clock_advance()
    payments_sync_due()

    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert payment_ledger_net(payment_id=payment.id) == {"USD": 2000}
    assert_books_balance()


def test_not_found_is_not_trusted_too_early(create_payment, merchant_keys, fast_sync):
    fast_sync.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 3600
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["authorize"])
    body = create_payment(payment_method=card(), confirm=True).json()

    clock_advance()
    services.payment_sync(payment_id=body["id"])

    (attempt,) = attempts_of(body["id"])
    assert attempt.status == AttemptStatus.UNKNOWN and attempt.sync_attempts == 1
    assert Payment.objects.get(pk=body["id"]).status == "processing"


def test_follow_up_on_an_unknown_payment_syncs_first(create_payment, secret_client, merchant_keys, fast_sync):
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = create_payment(capture_method="manual", payment_method=card(), confirm=True).json()
    assert body["status"] == "processing"

    captured = secret_client.post(f"/v1/payments/{body['id']}/capture", {"amount_to_capture": 1500}, format="json")

    assert captured.status_code == 200, captured.content
    assert (captured.json()["status"], captured.json()["amount_received"]) == ("succeeded", 1500)
    operations = [(a.operation, a.status) for a in attempts_of(body["id"])]
    assert operations == [("authorize", "succeeded"), ("capture", "succeeded")]
    assert_books_balance()


def test_unknown_capture_is_resolved_by_sync(create_payment, secret_client, merchant_keys, fast_sync):
    body = create_payment(capture_method="manual", payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["capture"]
    )

    pending = secret_client.post(f"/v1/payments/{body['id']}/capture", {}, format="json")
    assert pending.status_code == 200 and pending.json()["status"] == "processing"
    cancel = secret_client.post(f"/v1/payments/{body['id']}/cancel", {}, format="json")

    # the cancel first asked the processor: the capture had happened, so there is nothing to cancel
    assert cancel.status_code == 409 and error_of(cancel)["code"] == "payment_unexpected_state"
    assert "'succeeded'" in error_of(cancel)["message"]
    assert Payment.objects.get(pk=body["id"]).amount_received == 2000
    assert_books_balance()


def test_unresolvable_operation_is_flagged_after_the_last_try(create_payment, merchant_keys, fast_sync, caplog):
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["authorize"])
    body = create_payment(payment_method=card(), confirm=True).json()
    # the processor account disappears from our configuration: no status query can be made
    PaymentAttempt.objects.filter(payment_id=body["id"]).update(processor_account_id="pra_gone")

    for _ in range(3):
        clock_advance()
        assert payments_sync_due() == 1

    (attempt,) = attempts_of(body["id"])
    assert attempt.status == "unknown" and attempt.sync_attempts == 3
    assert attempt.flagged_at is not None and attempt.next_sync_at is None
    assert payments_sync_due() == 0  # left to an operator
    assert Payment.objects.get(pk=body["id"]).status == "processing"
    assert "flagged for an operator" in caplog.text


def test_crash_between_attempt_commit_and_result_is_recovered(merchant_keys, fast_sync):
    # given the processor charged, but our process died before step 3 (attempt still "started")
    attempt = InFlightAttemptFactory(payment__merchant_id=merchant_keys.merchant_id)
    SandboxCharge.objects.create(
        id="sbch_crashrecovery0000000000000",
        merchant_id=merchant_keys.merchant_id,
        reference=attempt.id,
        payment_method_type="card",
        brand="visa",
        last4="4242",
        amount=2000,
        currency="USD",
        capture_requested=True,
        status="succeeded",
        amount_authorized=2000,
        amount_captured=2000,
    )

    payments_sync_due()

    payment = Payment.objects.get(pk=attempt.payment_id)
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    assert payment_ledger_net(payment_id=payment.id) == {"USD": 2000}
    assert_books_balance()


def test_in_flight_attempt_is_left_alone_before_its_deadline(merchant_keys, fast_sync):
    attempt = InFlightAttemptFactory(
        payment__merchant_id=merchant_keys.merchant_id, next_sync_at=timezone.now() + timedelta(minutes=5)
    )

    services.payment_sync(payment_id=attempt.payment_id)

    attempt.refresh_from_db()
    assert attempt.status == "started"
    assert payments_due_for_sync() == []


def test_three_d_secure_reply_lost_is_recovered_as_requires_action(create_payment, merchant_keys, fast_sync):
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()

    clock_advance()
    payments_sync_due()

    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_action"
    assert "/sandbox/3ds/" in payment.next_action["redirect_to_url"]["url"]


# --- refunds -----------------------------------------------------------------------------------------


def test_refund_unknown_is_pending_then_settled_by_sync(create_payment, secret_client, merchant_keys, fast_sync):
    payment = create_payment(payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["refund"]
    )

    refund = secret_client.post("/v1/refunds", {"payment": payment["id"], "amount": 500}, format="json").json()
    assert refund["status"] == "pending"
    # the pending amount is reserved: only 1500 more can be refunded meanwhile
    too_much = secret_client.post("/v1/refunds", {"payment": payment["id"], "amount": 1501}, format="json")
    assert too_much.status_code == 400
    assert_books_balance()

    clock_advance()
    payments_sync_due()

    row = Refund.objects.get(pk=refund["id"])
    assert (row.status, row.processor_state) == ("succeeded", ProcessorState.RESOLVED)
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 500
    assert len(sandbox_refunds(merchant_keys.merchant_id)) == 1
    assert payment_ledger_net(payment_id=payment["id"]) == {"USD": 1500}
    assert_books_balance()


def test_refund_with_processor_down_is_503_and_releases_the_amount(create_payment, secret_client, merchant_keys):
    payment = create_payment(payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="failed", operations=["refund"])

    failed = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")

    assert failed.status_code == 503 and error_of(failed)["code"] == "processor_unavailable"
    assert error_of(failed)["refund"]["status"] == "failed"
    retry = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")
    assert retry.status_code == 201 and retry.json()["amount"] == 2000
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 2000
    assert_books_balance()


# --- processor webhooks ------------------------------------------------------------------------------


def test_webhook_settles_an_unknown_payment_by_asking_the_processor(
    create_payment, merchant_keys, django_capture_on_commit_callbacks
):
    # Given a charge whose reply was lost (attempt unknown, payment processing)
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = create_payment(payment_method=card(), confirm=True).json()
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    (attempt,) = attempts_of(body["id"])
    event = WebhookEvent(
        processor_event_id="evt_sandbox_1",
        type="charge.succeeded",
        processor_reference=attempt.id,
        result=charge_result(charge),
    )

    # When the processor's notification arrives (and is redelivered)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(processor_account_id="sandbox", event=event)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(processor_account_id="sandbox", event=event)

    # Then the status query it triggered settled the payment once
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    assert attempts_of(body["id"])[0].status == AttemptStatus.SUCCEEDED
    assert [c.status for c in sandbox_charges(merchant_keys.merchant_id)] == ["succeeded"]
    assert payment_ledger_net(payment_id=payment.id) == {"USD": 2000}
    assert_books_balance()


def test_webhook_about_a_refund_resolves_it_from_the_processor(
    create_payment, secret_client, merchant_keys, fast_sync, django_capture_on_commit_callbacks
):
    # Given a refund whose call never reached the sandbox (outcome unknown, amount reserved)
    payment = create_payment(payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["refund"])
    refund = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json").json()
    assert refund["status"] == "pending"

    # When a notification about it arrives, claiming some result
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_sandbox_2",
                type="refund.failed",
                processor_reference=None,
                refund_reference=refund["id"],
                result=ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=2000),
            ),
        )

    # Then the processor's own book decides: nothing was refunded, the reservation is released
    row = Refund.objects.get(pk=refund["id"])
    assert (row.status, row.processor_state) == ("failed", ProcessorState.RESOLVED)
    assert sandbox_refunds(merchant_keys.merchant_id) == []
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 0
    retry = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")
    assert retry.status_code == 201 and retry.json()["status"] == "succeeded"
    assert [r.amount for r in sandbox_refunds(merchant_keys.merchant_id)] == [2000]
    assert_books_balance()


def test_stale_decline_webhook_of_an_earlier_charge_cannot_cause_a_second_charge(
    create_payment, secret_client, merchant_keys, django_capture_on_commit_callbacks
):
    # Given a declined first charge, then a retry that was charged but whose reply was lost
    mid = merchant_keys.merchant_id
    pid = create_payment(payment_method=card(DECLINE), confirm=True, expected=402).json()["error"]["payment"]["id"]
    (first,) = attempts_of(pid)
    old_charge = SandboxCharge.objects.get(reference=first.id)
    sandbox_fault_plan_set(merchant_id=mid, count=1, mode="unknown_after_charge", operations=["authorize"])
    assert (
        secret_client.post(f"/v1/payments/{pid}/confirm", {"payment_method": card()}, format="json").json()["status"]
        == "processing"
    )

    # When the first charge's decline notification is (re)delivered late
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_old",
                type="payment_intent.payment_failed",
                processor_reference=old_charge.id,
                result=charge_result(old_charge),
            ),
        )

    # Then the retry is settled from the processor's answer about *its* charge: captured, not declined
    payment = Payment.objects.get(pk=pid)
    first, second = attempts_of(pid)
    assert (first.status, second.status, second.flagged_at) == ("declined", "succeeded", None)
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    # and the customer cannot pay a second time
    again = secret_client.post(f"/v1/payments/{pid}/confirm", {"payment_method": card()}, format="json")
    assert again.status_code == 409
    assert SandboxCharge.objects.filter(merchant_id=mid, status="succeeded").count() == 1
    assert_books_balance()


def test_webhook_never_settles_an_attempt_still_in_flight(merchant_keys, django_capture_on_commit_callbacks):
    # Given an authorize call in flight (started, its deadline in the future)
    attempt = InFlightAttemptFactory(
        payment__merchant_id=merchant_keys.merchant_id,
        processor_reference="sbch_inflight",
        next_sync_at=timezone.now() + timedelta(minutes=5),
    )

    # When a decline notification naming its charge arrives
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_inflight",
                type="payment_intent.payment_failed",
                processor_reference="sbch_inflight",
                result=ProcessorResult(outcome=Outcome.DECLINED, error_code="card_declined"),
            ),
        )

    # Then the call in flight keeps it: nothing settled, the payment still processing
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.STARTED
    assert Payment.objects.get(pk=attempt.payment_id).status == "processing"
    assert_books_balance()


def test_stale_webhook_does_not_undo_a_capture_whose_reply_was_lost(
    create_payment, secret_client, merchant_keys, django_capture_on_commit_callbacks
):
    # Given an authorized payment whose capture went through but whose reply was lost
    mid = merchant_keys.merchant_id
    pid = create_payment(payment_method=card(), confirm=True, capture_method="manual").json()["id"]
    charge = SandboxCharge.objects.get(merchant_id=mid)
    stale = charge_result(charge)  # the "authorized" snapshot of amount_capturable_updated
    sandbox_fault_plan_set(merchant_id=mid, count=1, mode="unknown_after_charge", operations=["capture"])
    assert secret_client.post(f"/v1/payments/{pid}/capture", {}, format="json").json()["status"] == "processing"

    # When the older "authorized" notification arrives
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_stale",
                type="payment_intent.amount_capturable_updated",
                processor_reference=charge.id,
                result=stale,
            ),
        )

    # Then the capture is settled as the processor has it now: captured
    charge.refresh_from_db()
    payment = Payment.objects.get(pk=pid)
    capture = attempts_of(pid)[-1]
    assert (charge.status, charge.amount_captured) == ("succeeded", 2000)
    assert (payment.status, payment.amount_received, capture.status) == ("succeeded", 2000, "succeeded")
    assert payment_ledger_net(payment_id=pid) == {"USD": 2000}
    assert_books_balance()


@pytest.mark.parametrize("settled_as", ["declined", "failed", "requires_action"])
def test_late_report_that_money_moved_on_an_attempt_settled_without_it_is_flagged(
    create_payment, merchant_keys, settled_as
):
    # Given an attempt already settled as declined / not processed / waiting for the customer
    pid = create_payment(payment_method=card(THREE_DS), confirm=True).json()["id"]
    (attempt,) = attempts_of(pid)
    PaymentAttempt.objects.filter(pk=attempt.id).update(status=settled_as)
    before = Payment.objects.get(pk=pid)

    # When a result for it arrives saying the processor captured the money
    settlement = attempt_settle(
        payment=before,
        attempt=attempt,
        result=ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=2000, amount_captured=2000),
        source="sync",
    )

    # Then nothing is applied twice, and an operator is asked to reconcile
    assert settlement.resolution is None
    attempt.refresh_from_db()
    assert attempt.status == settled_as and attempt.flagged_at is not None
    assert payments_flagged().filter(pk=pid).exists()
    assert Payment.objects.get(pk=pid).amount_received == 0
    assert_books_balance()


# --- payments waiting for the customer (requires_action) -------------------------------------------


def _answer_without_returning(redirect_url: str, *, approve: bool) -> None:
    """The customer answers the sandbox's 3-D Secure page, but the browser never comes back to us."""
    path = urlsplit(redirect_url).path
    answered = Client().post(path, {"result": "complete" if approve else "fail"})
    assert answered.status_code == 302, answered.content


def test_webhook_for_a_payment_waiting_for_3ds_completes_it_once_the_customer_finished(
    create_payment, merchant_keys, django_capture_on_commit_callbacks
):
    # Given a 3-D Secure payment the customer approved, the browser never returning
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()
    _answer_without_returning(body["next_action"]["redirect_to_url"]["url"], approve=True)
    (attempt,) = attempts_of(body["id"])

    # When the processor's notification arrives
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_3ds",
                type="payment_intent.succeeded",
                processor_reference=attempt.processor_reference,
            ),
        )

    # Then the payment is finished with the processor, charged exactly once
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert (charge.status, charge.amount_captured) == ("succeeded", 2000)
    assert [a.operation for a in attempts_of(body["id"])] == ["authorize", "complete"]
    assert_books_balance()


def test_webhook_claiming_success_while_the_customer_has_not_acted_changes_nothing(
    create_payment, merchant_keys, django_capture_on_commit_callbacks
):
    # Given a 3-D Secure payment the customer has not answered
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()
    (attempt,) = attempts_of(body["id"])

    # When a notification claims the charge succeeded
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply_webhook(
            processor_account_id="sandbox",
            event=WebhookEvent(
                processor_event_id="evt_claim",
                type="payment_intent.succeeded",
                processor_reference=attempt.processor_reference,
                result=ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=2000, amount_captured=2000),
            ),
        )

    # Then the processor (still waiting for the customer) decides: nothing moves
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("requires_action", 0)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert (charge.status, charge.amount_captured) == ("requires_action", 0)
    assert_books_balance()


def test_requires_action_payment_is_polled_only_after_the_configured_age(create_payment, settings):
    # Given a payment waiting for 3-D Secure, polled after 900 s
    settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = 900
    pid = create_payment(payment_method=card(THREE_DS), confirm=True).json()["id"]

    # Then it is not due at once, and due after the configured age
    assert payments_requires_action_due() == []
    assert payments_requires_action_due(now=timezone.now() + timedelta(seconds=901)) == [pid]


def test_janitor_finishes_a_requires_action_payment_the_customer_completed(create_payment, merchant_keys, settings):
    # Given a payment waiting for 3-D Secure whose poll is due
    settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = 0
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()

    # When the janitor polls before the customer answered
    payments_sync_due()

    # Then nothing changes, and the next poll is scheduled
    (attempt,) = attempts_of(body["id"])
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"
    assert attempt.sync_attempts == 1 and attempt.next_sync_at is not None

    # When the customer answers without coming back and the janitor polls again
    _answer_without_returning(body["next_action"]["redirect_to_url"]["url"], approve=True)
    payments_sync_due()

    # Then the payment is completed (no new charge), and no longer polled
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    (charge,) = sandbox_charges(merchant_keys.merchant_id)
    assert (charge.status, charge.amount_captured) == ("succeeded", 2000)
    assert payments_requires_action_due() == []
    assert_books_balance()


def test_janitor_turns_a_failed_challenge_into_a_retryable_payment(create_payment, merchant_keys, settings):
    # Given the customer failed 3-D Secure and never came back
    settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = 0
    body = create_payment(payment_method=card(THREE_DS), confirm=True).json()
    _answer_without_returning(body["next_action"]["redirect_to_url"]["url"], approve=False)

    # When the janitor polls
    payments_sync_due()

    # Then the payment can take another method; nothing was charged
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_payment_method"
    assert [c.status for c in sandbox_charges(merchant_keys.merchant_id)] == ["declined"]
    assert_books_balance()


# --- a status sync that fails every time ------------------------------------------------------------


def test_sync_raising_every_time_still_counts_and_ends_flagged(create_payment, merchant_keys, fast_sync, monkeypatch):
    # Given a lost reply, and applying the processor's answer failing every time (e.g. the ledger down)
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    pid = create_payment(payment_method=card(), confirm=True).json()["id"]

    def ledger_down(**kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr("payments.services.settlement.ledger_post_capture", ledger_down)

    # When the janitor's status sync runs through its whole schedule (3 tries) and once more
    for _ in range(3):
        clock_advance()
        with pytest.raises(RuntimeError):
            services.payment_sync(payment_id=pid)
    clock_advance()
    services.payment_sync(payment_id=pid)  # flagged: nothing is due any more

    # Then every try was counted, the attempt is flagged for an operator and no longer due
    (attempt,) = attempts_of(pid)
    assert attempt.status == AttemptStatus.UNKNOWN
    assert attempt.sync_attempts >= 3 and attempt.flagged_at is not None
    assert payments_flagged().filter(pk=pid).exists()
    assert payments_due_for_sync() == []
    assert Payment.objects.get(pk=pid).amount_received == 0
    assert_books_balance()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_janitor_runs_on_a_real_celery_worker(request, monkeypatch, merchant_keys, secret_client):
    from tests.orders.conftest import wait_until

    for name, value in {"PAYMENTS_SYNC_SCHEDULE_SECONDS": "0,0", "PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    worker = request.getfixturevalue("celery_worker")
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = secret_client.post(
        "/v1/payments", {"amount": 700, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    ).json()
    assert body["status"] == "processing"
    PaymentAttempt.objects.filter(payment_id=body["id"]).update(next_sync_at=timezone.now())

    payments_sync_due.delay()

    wait_until(lambda: Payment.objects.get(pk=body["id"]).status == "succeeded")
    worker.wait_idle()  # every sync the janitor started has finished: none charged again
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()
