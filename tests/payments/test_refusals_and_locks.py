"""The state table is the truth for a refused capture or void, the lock helpers keep their
documented contract, and a step-1 transaction cannot be nested in a caller's transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from payments import locks, services
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.state import TRANSITIONS
from sandbox.models import SandboxCharge

from .conftest import assert_books_balance, card, error_of

pytestmark = pytest.mark.django_db

S = PaymentStatus


def _authorized(create_payment) -> str:
    body = create_payment(payment_method=card(), confirm=True, capture_method="manual").json()
    assert body["status"] == S.REQUIRES_CAPTURE, body
    return body["id"]


def _charge_of(payment_id: str) -> SandboxCharge:
    return SandboxCharge.objects.get(id=Payment.objects.get(pk=payment_id).processor_reference)


def test_the_table_sends_a_refused_capture_or_void_back_where_it_began():
    assert TRANSITIONS[(S.PROCESSING, "refused")] == frozenset({S.REQUIRES_ACTION, S.REQUIRES_CAPTURE})
    assert (S.PROCESSING, "capture_refused") not in TRANSITIONS


def test_a_capture_the_processor_refuses_leaves_the_payment_capturable(secret_client, create_payment):
    # Given an authorized payment whose authorization the processor no longer holds
    payment_id = _authorized(create_payment)
    SandboxCharge.objects.filter(pk=_charge_of(payment_id).pk).update(status=SandboxCharge.Status.CANCELED)

    # When the merchant captures it
    response = secret_client.post(f"/v1/payments/{payment_id}/capture", {}, format="json")

    # Then the refusal is a 409 and the payment is back in requires_capture, nothing captured
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "processor_refused"
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.amount_capturable, payment.amount_received) == (S.REQUIRES_CAPTURE, 2000, 0)
    capture = PaymentAttempt.objects.filter(payment_id=payment_id, operation="capture").get()
    assert (capture.status, capture.origin_status) == (AttemptStatus.DECLINED, S.REQUIRES_CAPTURE)
    assert_books_balance()


def test_a_void_the_processor_refuses_leaves_the_payment_capturable(secret_client, create_payment):
    # Given an authorized payment the processor has captured behind our back
    payment_id = _authorized(create_payment)
    SandboxCharge.objects.filter(pk=_charge_of(payment_id).pk).update(
        status=SandboxCharge.Status.SUCCEEDED, amount_captured=2000
    )

    # When the merchant cancels it
    response = secret_client.post(f"/v1/payments/{payment_id}/cancel", {}, format="json")

    # Then the refusal is a 409 and the payment is where the void began
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "processor_refused"
    assert Payment.objects.get(pk=payment_id).status == S.REQUIRES_CAPTURE


def test_payment_locks_are_for_no_key_update_of_the_row_only(create_payment):
    payment_id = _authorized(create_payment)

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locks.payment_lock(payment_id=payment_id)

    (select,) = [q["sql"] for q in queries.captured_queries if "FOR" in q["sql"]]
    assert select.rstrip().endswith('FOR NO KEY UPDATE OF "payments_payment"'), select


@pytest.mark.django_db(transaction=True)
def test_a_lock_helper_outside_a_transaction_is_refused(create_payment):
    payment_id = _authorized(create_payment)

    with pytest.raises(transaction.TransactionManagementError):
        locks.payment_lock(payment_id=payment_id)


def test_a_step_1_transaction_nested_in_a_callers_transaction_fails_loudly(merchant_keys, create_payment):
    # Given an authorized payment
    payment_id = _authorized(create_payment)

    # When a caller wraps the capture (which commits its attempt before calling the processor)
    # in its own transaction, then it refuses to run: the row locks would be held across the call
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.payment_capture(merchant_id=merchant_keys.merchant_id, payment_id=payment_id)

    # And nothing happened
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.amount_received) == (S.REQUIRES_CAPTURE, 0)
    assert not PaymentAttempt.objects.filter(payment_id=payment_id, operation="capture").exists()
