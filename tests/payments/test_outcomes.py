"""Ambiguous and failed processor outcomes: routing fallback, unknown outcomes resolved by status
sync (the janitor), crash recovery, operator flags and processor webhooks. All through the real
sandbox processor with its deterministic fault plans; every scenario ends with the books checked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.selectors import payment_ledger_net
from payments import services
from payments.models import AttemptStatus, Payment, PaymentAttempt, ProcessorState, Refund
from payments.selectors import payments_due_for_sync
from payments.tasks import payments_sync_due
from processors.base import Outcome, ProcessorResult, WebhookEvent
from processors.services import processor_account_create, processor_route_set
from sandbox.connector import charge_result
from sandbox.models import SandboxCharge
from sandbox.services import sandbox_fault_plan_set

from .conftest import THREE_DS, assert_books_balance, card, error_of, sandbox_charges, sandbox_refunds
from .factories import InFlightAttemptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_sync(settings):
    """The janitor's schedule cut to nothing, so every status query is due at once."""
    settings.PAYMENTS_SYNC_SCHEDULE_SECONDS = [0, 0, 0]
    settings.PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS = [0, 0]
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
    assert payments_due_for_sync() == [body["id"]]

    enqueued = payments_sync_due()

    assert enqueued == 1
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_payment_method"
    assert payment.last_payment_error["code"] == "processor_unavailable"
    (attempt,) = attempts_of(payment.id)
    assert attempt.status == AttemptStatus.FAILED and attempt.sync_attempts == 0
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


def test_webhook_settles_an_unknown_payment(create_payment, merchant_keys):
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

    services.payment_apply_webhook(processor_account_id="sandbox", event=event)
    services.payment_apply_webhook(processor_account_id="sandbox", event=event)  # redelivered: no effect

    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.amount_received) == ("succeeded", 2000)
    assert payment_ledger_net(payment_id=payment.id) == {"USD": 2000}
    assert_books_balance()


def test_webhook_refund_failing_releases_the_reservation(create_payment, secret_client, merchant_keys):
    payment = create_payment(payment_method=card(), confirm=True).json()
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["refund"])
    refund = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json").json()
    assert refund["status"] == "pending"

    services.payment_apply_webhook(
        processor_account_id="sandbox",
        event=WebhookEvent(
            processor_event_id="evt_sandbox_2",
            type="refund.failed",
            processor_reference=None,
            refund_reference=refund["id"],
            result=ProcessorResult(outcome=Outcome.DECLINED, error_code="refund_failed", message="Card closed."),
        ),
    )

    row = Refund.objects.get(pk=refund["id"])
    assert (row.status, row.failure_reason) == ("failed", "refund_failed")
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 0
    retry = secret_client.post("/v1/refunds", {"payment": payment["id"]}, format="json")
    assert retry.status_code == 201 and retry.json()["status"] == "succeeded"
    assert_books_balance()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_janitor_runs_on_a_real_celery_worker(request, monkeypatch, merchant_keys, secret_client):
    from tests.orders.conftest import wait_until

    for name, value in {"PAYMENTS_SYNC_SCHEDULE_SECONDS": "0,0", "PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    request.getfixturevalue("celery_worker")
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    body = secret_client.post(
        "/v1/payments", {"amount": 700, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    ).json()
    assert body["status"] == "processing"
    PaymentAttempt.objects.filter(payment_id=body["id"]).update(next_sync_at=timezone.now())

    payments_sync_due.delay()

    wait_until(lambda: Payment.objects.get(pk=body["id"]).status == "succeeded", timeout=30)
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()
