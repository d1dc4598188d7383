"""Failure injection: per-merchant latency and failure share, and deterministic fault plans."""

import pytest

from processors.base import Outcome
from sandbox import faults as faults_module
from sandbox.models import SandboxCharge, SandboxRefund
from sandbox.selectors import sandbox_fault_plan_remaining
from sandbox.services import sandbox_fault_plan_set

from .conftest import authorize_request, set_sandbox_options

pytestmark = pytest.mark.django_db


def test_failed_mode_returns_failed_and_records_nothing(sandbox, merchant_id, reference):
    set_sandbox_options(merchant_id, failure_rate=1, failure_mode="failed")

    result = sandbox.authorize(authorize_request(reference=reference))

    assert (result.outcome, result.error_code) == (Outcome.FAILED, "processor_unavailable")
    assert not SandboxCharge.objects.exists()


def test_unknown_mode_does_not_charge_and_status_says_so(sandbox, merchant_id, reference):
    set_sandbox_options(merchant_id, failure_rate=1, failure_mode="unknown")

    result = sandbox.authorize(authorize_request(reference=reference))
    status = sandbox.status(reference=reference, processor_reference=None)

    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "timeout")
    assert (status.outcome, status.raw_status) == (Outcome.FAILED, "not_found")
    assert not SandboxCharge.objects.exists()


def test_unknown_after_charge_loses_the_reply_but_status_reveals_the_charge(sandbox, merchant_id, reference):
    set_sandbox_options(merchant_id, failure_rate=1, failure_mode="unknown_after_charge")

    result = sandbox.authorize(authorize_request(reference=reference, amount=1234))
    status = sandbox.status(reference=reference, processor_reference=None)

    assert result.outcome == Outcome.UNKNOWN
    assert result.processor_reference is None  # the reply was lost
    assert (status.outcome, status.raw_status, status.amount_captured) == (Outcome.SUCCEEDED, "succeeded", 1234)
    assert SandboxCharge.objects.filter(reference=reference).count() == 1


def test_retry_with_the_same_reference_after_a_lost_reply_does_not_charge_twice(sandbox, merchant_id, reference):
    set_sandbox_options(merchant_id, failure_rate=1, failure_mode="unknown_after_charge")
    sandbox.authorize(authorize_request(reference=reference))
    set_sandbox_options(merchant_id)

    retry = sandbox.authorize(authorize_request(reference=reference))

    assert retry.outcome == Outcome.SUCCEEDED
    assert SandboxCharge.objects.filter(reference=reference).count() == 1


def test_status_queries_are_never_failed(sandbox, merchant_id, reference):
    sandbox.authorize(authorize_request(reference=reference))
    set_sandbox_options(merchant_id, failure_rate=1, failure_mode="failed")
    sandbox_fault_plan_set(merchant_id=merchant_id, count=5, mode="unknown")

    assert sandbox.status(reference=reference, processor_reference=None).outcome == Outcome.SUCCEEDED
    assert sandbox.refund_status(reference="re_x", processor_refund_reference=None).raw_status == "not_found"
    assert sandbox_fault_plan_remaining(merchant_id=merchant_id) == 5


def test_zero_failure_rate_never_fails(sandbox, merchant_id):
    set_sandbox_options(merchant_id, failure_rate=0, failure_mode="failed")

    outcomes = {sandbox.authorize(authorize_request()).outcome for _ in range(10)}

    assert outcomes == {Outcome.SUCCEEDED}


def test_failure_rate_is_a_share_of_calls(sandbox, merchant_id, monkeypatch):
    set_sandbox_options(merchant_id, failure_rate=0.5, failure_mode="failed")
    draws = iter([0.1, 0.9, 0.49, 0.5])
    monkeypatch.setattr(faults_module.random, "random", lambda: next(draws))

    outcomes = [sandbox.authorize(authorize_request()).outcome for _ in range(4)]

    assert outcomes == [Outcome.FAILED, Outcome.SUCCEEDED, Outcome.FAILED, Outcome.SUCCEEDED]
    assert SandboxCharge.objects.count() == 2


@pytest.mark.parametrize("options", [{"failure_rate": "lots"}, {"failure_rate": None}, {"latency_ms": "slow"}, "junk"])
def test_malformed_options_are_ignored(sandbox, merchant_id, options):
    from merchants.services import merchant_settings_set

    merchant_settings_set(merchant_id=merchant_id, settings={"sandbox": options})

    assert sandbox.authorize(authorize_request()).outcome == Outcome.SUCCEEDED


def test_fault_plan_fails_exactly_the_next_n_calls(sandbox, merchant_id):
    sandbox_fault_plan_set(merchant_id=merchant_id, count=2, mode="failed")

    outcomes = [sandbox.authorize(authorize_request()).outcome for _ in range(4)]

    assert outcomes == [Outcome.FAILED, Outcome.FAILED, Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert sandbox_fault_plan_remaining(merchant_id=merchant_id) == 0
    assert SandboxCharge.objects.count() == 2


def test_fault_plan_is_per_merchant(sandbox, merchant_id, other_merchant_keys):
    sandbox_fault_plan_set(merchant_id=other_merchant_keys.merchant_id, count=3, mode="failed")

    assert sandbox.authorize(authorize_request()).outcome == Outcome.SUCCEEDED
    assert sandbox_fault_plan_remaining(merchant_id=other_merchant_keys.merchant_id) == 3


def test_fault_plan_limited_to_refunds(sandbox, merchant_id):
    sandbox_fault_plan_set(merchant_id=merchant_id, count=1, mode="failed", operations=["refund"])
    charge = sandbox.authorize(authorize_request(amount=1000))

    failed = sandbox.refund(
        reference="re_1", processor_reference=charge.processor_reference, amount=100, currency="USD"
    )
    retried = sandbox.refund(
        reference="re_1", processor_reference=charge.processor_reference, amount=100, currency="USD"
    )

    assert charge.outcome == Outcome.SUCCEEDED
    assert (failed.outcome, retried.outcome) == (Outcome.FAILED, Outcome.SUCCEEDED)
    assert SandboxRefund.objects.count() == 1


def test_refund_reply_lost_is_resolved_by_refund_status(sandbox, merchant_id):
    charge = sandbox.authorize(authorize_request(amount=1000))
    sandbox_fault_plan_set(merchant_id=merchant_id, count=1, mode="unknown_after_charge", operations=["refund"])

    lost = sandbox.refund(reference="re_1", processor_reference=charge.processor_reference, amount=300, currency="USD")
    status = sandbox.refund_status(reference="re_1", processor_refund_reference=None)

    assert lost.outcome == Outcome.UNKNOWN
    assert (status.outcome, status.amount_refunded) == (Outcome.SUCCEEDED, 300)
    assert SandboxCharge.objects.get(id=charge.processor_reference).amount_refunded == 300


def test_capture_reply_lost_is_resolved_by_status(sandbox, merchant_id):
    charge = sandbox.authorize(authorize_request(amount=1000, capture=False))
    sandbox_fault_plan_set(merchant_id=merchant_id, count=1, mode="unknown_after_charge", operations=["capture"])

    lost = sandbox.capture(reference="cap", processor_reference=charge.processor_reference, amount=700, currency="USD")
    status = sandbox.status(reference="", processor_reference=charge.processor_reference)

    assert lost.outcome == Outcome.UNKNOWN
    assert (status.raw_status, status.amount_captured) == ("succeeded", 700)


def test_fault_plan_validation(merchant_id):
    with pytest.raises(ValueError):
        sandbox_fault_plan_set(merchant_id=merchant_id, count=1, mode="explode")
    with pytest.raises(ValueError):
        sandbox_fault_plan_set(merchant_id=merchant_id, count=1, operations=["status"])
    with pytest.raises(ValueError):
        sandbox_fault_plan_set(merchant_id=merchant_id, count=-1)


def test_latency_is_added(sandbox, merchant_id):
    set_sandbox_options(merchant_id, latency_ms=60)

    result = sandbox.authorize(authorize_request())

    assert result.outcome == Outcome.SUCCEEDED
    assert result.latency_ms >= 60


def test_latency_is_bounded_to_ten_seconds(sandbox, merchant_id, monkeypatch):
    slept = []
    monkeypatch.setattr(faults_module.time, "sleep", slept.append)
    set_sandbox_options(merchant_id, latency_ms=3_600_000)

    sandbox.status(reference="x", processor_reference=None)

    assert slept == [10.0]


def test_fail_next_in_merchant_settings_fails_exactly_n_calls_once(sandbox, merchant_id):
    set_sandbox_options(merchant_id, fail_next=2, failure_mode="unknown")

    outcomes = [sandbox.authorize(authorize_request()).outcome for _ in range(4)]

    # Still configured, but already consumed: the settings arm the plan once, not on every call.
    assert outcomes == [Outcome.UNKNOWN, Outcome.UNKNOWN, Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert SandboxCharge.objects.count() == 2


def test_changing_the_settings_rearms_fail_next(sandbox, merchant_id):
    set_sandbox_options(merchant_id, fail_next=1)
    first = sandbox.authorize(authorize_request()).outcome
    set_sandbox_options(merchant_id, fail_next=1, fail_operations=["authorize"])

    second = sandbox.authorize(authorize_request()).outcome
    third = sandbox.authorize(authorize_request()).outcome

    assert (first, second, third) == (Outcome.FAILED, Outcome.FAILED, Outcome.SUCCEEDED)


def test_fail_next_limited_to_operations(sandbox, merchant_id):
    set_sandbox_options(merchant_id, fail_next=1, failure_mode="unknown_after_charge", fail_operations=["capture"])
    charge = sandbox.authorize(authorize_request(capture=False))

    lost = sandbox.capture(reference="cap", processor_reference=charge.processor_reference, amount=10, currency="USD")

    assert (charge.outcome, lost.outcome) == (Outcome.SUCCEEDED, Outcome.UNKNOWN)
    assert SandboxCharge.objects.get(id=charge.processor_reference).amount_captured == 10
