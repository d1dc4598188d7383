"""Issue 13, section 2: the janitor's schedule measures time, not queue backlog. The beat queues at
most one sync per payment (``sync_enqueued_at``), a sync queries and counts only operations that
are due, the count is taken atomically in SQL, and an operation is flagged for an operator only
once its schedule's time has passed since its outcome became unknown, however many queries ran."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import AttemptStatus, Payment, PaymentAttempt, ProcessorState, Refund
from payments.services.sync import sync_try_claim
from payments.tasks import payments_sync_due
from sandbox.services import sandbox_fault_plan_set
from tests.payments.schedule import STEP_SECONDS, clock_advance, schedule_fast
from tests.races import run_together

from .conftest import assert_books_balance, card, sandbox_charges

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule(settings):
    schedule_fast(settings)  # three status queries a minute apart, then the operator flag
    settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 10**6  # a "not found" proves nothing: stays unknown
    settings.PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS = 600
    return settings


@pytest.fixture
def stopped_worker(monkeypatch):
    """The Celery worker is stopped: the beat's messages pile up in this queue instead of running."""
    queue: list[str] = []
    monkeypatch.setattr("payments.tasks.payment_sync.delay", lambda payment_id: queue.append(payment_id))
    return queue


def unknown_charge(create_payment, merchant_keys) -> str:
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=1, mode="unknown", operations=["authorize"])
    body = create_payment(payment_method=card(), confirm=True).json()
    assert body["status"] == "processing"
    return body["id"]


def attempt_of(payment_id: str) -> PaymentAttempt:
    (attempt,) = PaymentAttempt.objects.filter(payment_id=payment_id)
    return attempt


def test_a_stopped_worker_and_a_busy_beat_advance_the_schedule_by_one_step(
    create_payment, merchant_keys, schedule, stopped_worker
):
    # Given an unknown outcome whose first status query is due, the second one long after it (the
    # 40 s below, and however long the machine takes to run them, stay before it)
    schedule.PAYMENTS_SYNC_SCHEDULE_SECONDS = [STEP_SECONDS, 10 * STEP_SECONDS, STEP_SECONDS]
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance()

    # When the beat runs 40 times, a second apart, while the worker is stopped (issue 13: 40 s)
    for _ in range(40):
        payments_sync_due()
        clock_advance(1)

    # Then one sync is queued, not 40
    assert stopped_worker == [pid]
    assert Payment.objects.get(pk=pid).sync_enqueued_at is not None
    attempt = attempt_of(pid)
    assert (attempt.sync_attempts, attempt.flagged_at) == (0, None)

    # When the worker comes back and runs what was queued (and a duplicate that slipped in)
    for payment_id in [*stopped_worker, pid]:
        services.payment_sync(payment_id=payment_id)

    # Then the schedule advanced by exactly one step: one query counted, the next is the second one
    attempt = attempt_of(pid)
    assert attempt.sync_attempts == 1 and attempt.flagged_at is None
    assert attempt.next_sync_at == attempt.created + timedelta(seconds=11 * STEP_SECONDS)
    assert Payment.objects.get(pk=pid).sync_enqueued_at is None
    assert attempt.status == AttemptStatus.UNKNOWN


def test_a_queued_sync_presumed_lost_is_queued_again_after_the_stale_timeout(
    create_payment, merchant_keys, schedule, stopped_worker
):
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance()
    payments_sync_due()
    assert stopped_worker == [pid]

    clock_advance(schedule.PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS + 1)  # the message was lost
    payments_sync_due()

    assert stopped_worker == [pid, pid]


def test_operations_not_due_are_neither_queried_nor_counted(create_payment, secret_client, merchant_keys, schedule):
    # Given a captured payment with two refunds whose outcome is unknown
    pid = create_payment(payment_method=card(), confirm=True).json()["id"]
    sandbox_fault_plan_set(merchant_id=merchant_keys.merchant_id, count=2, mode="unknown", operations=["refund"])
    for amount in (300, 400):
        assert secret_client.post("/v1/refunds", {"payment": pid, "amount": amount}, format="json").status_code == 201
    first, second = Refund.objects.filter(payment_id=pid).order_by("id")
    assert first.processor_state == second.processor_state == ProcessorState.UNKNOWN
    # ... of which only the first is due
    Refund.objects.filter(pk=first.pk).update(next_sync_at=timezone.now())

    services.payment_sync(payment_id=pid)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.sync_attempts == 1
    assert second.sync_attempts == 0 and second.next_sync_at > timezone.now()


def test_the_operator_flag_comes_by_elapsed_time_not_by_the_number_of_queries(create_payment, merchant_keys, schedule):
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance()
    # Many syncs in a burst (a backlog draining, operators, webhooks): one step counted, no flag
    for _ in range(10):
        services.payment_sync(payment_id=pid)
        services.payment_resolve(payment_id=pid)
    attempt = attempt_of(pid)
    assert attempt.sync_attempts == 1 and attempt.flagged_at is None

    # The second step, then the third (the schedule's end: 3 steps since the call): flagged only then
    clock_advance()
    services.payment_sync(payment_id=pid)
    assert attempt_of(pid).flagged_at is None
    clock_advance()
    services.payment_sync(payment_id=pid)

    attempt = attempt_of(pid)
    assert attempt.sync_attempts == 3 and attempt.flagged_at is not None and attempt.next_sync_at is None
    assert attempt.created <= attempt.flagged_at - timedelta(seconds=3 * STEP_SECONDS)


def test_a_late_first_query_does_not_use_up_the_schedule(create_payment, merchant_keys, schedule):
    """The worker was down for most of the schedule: the query that finally runs schedules the
    next point still ahead; the flag comes at the schedule's end, not after three queries."""
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance(2 * STEP_SECONDS + 10)

    services.payment_sync(payment_id=pid)

    attempt = attempt_of(pid)
    assert attempt.sync_attempts == 1 and attempt.flagged_at is None
    assert attempt.next_sync_at == attempt.created + timedelta(seconds=3 * STEP_SECONDS)


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_due_step_count_it_once(create_payment, merchant_keys, schedule):
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance()

    results = run_together(8, lambda i: services.payment_sync(payment_id=pid))

    assert not [r for r in results if isinstance(r, Exception)], results
    attempt = attempt_of(pid)
    assert attempt.sync_attempts == 1 and attempt.flagged_at is None


@pytest.mark.django_db(transaction=True)
def test_the_try_count_is_a_compare_and_set_in_sql(create_payment, merchant_keys, schedule):
    """Eight processes holding the same (stale) copy of the row: exactly one takes the step."""
    pid = unknown_charge(create_payment, merchant_keys)
    clock_advance()
    copies = [attempt_of(pid) for _ in range(8)]
    now = timezone.now()

    taken = run_together(8, lambda i: sync_try_claim(PaymentAttempt, copies[i], now=now))

    assert sorted(taken) == [False] * 7 + [True]
    assert attempt_of(pid).sync_attempts == 1


def test_a_charge_resolved_late_is_still_booked_once(create_payment, merchant_keys, schedule, stopped_worker):
    schedule.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = 0
    sandbox_fault_plan_set(
        merchant_id=merchant_keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    pid = create_payment(payment_method=card(), confirm=True).json()["id"]
    clock_advance()
    for _ in range(5):
        payments_sync_due()
    for payment_id in stopped_worker:
        services.payment_sync(payment_id=payment_id)

    assert Payment.objects.get(pk=pid).status == "succeeded"
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()
