"""The sandbox connector: test cards, idempotent references, capture, void, refunds, status queries."""

import threading

import pytest
from django.db import connection

from processors.base import Outcome
from processors.registry import connector_class, registered_processors
from processors.selectors import connector_for_account
from sandbox.connector import SandboxConnector
from sandbox.models import SandboxCharge, SandboxRefund

from .conftest import authorize_request

pytestmark = pytest.mark.django_db


def test_registered_under_its_name():
    assert "sandbox" in registered_processors()
    assert connector_class("sandbox") is SandboxConnector


def test_the_sandbox_account_connector_charges_through_the_sandbox(merchant_id, reference):
    connector = connector_for_account(merchant_id=merchant_id, account_id="sandbox")

    result = connector.authorize(authorize_request(reference=reference))

    assert (connector.name, result.outcome) == ("sandbox", Outcome.SUCCEEDED)
    assert SandboxCharge.objects.get(reference=reference).merchant_id == merchant_id


# --- test cards --------------------------------------------------------------------------------

DECLINES = [
    ("4000000000000002", "generic_decline", "card_declined"),
    ("4000000000009995", "insufficient_funds", "card_declined"),
    ("4000000000009987", "lost_card", "card_declined"),
    ("4000000000009979", "stolen_card", "card_declined"),
    ("4000000000000069", "expired_card", "expired_card"),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
]


@pytest.mark.parametrize(("number", "brand"), [("4242424242424242", "visa"), ("5555555555554444", "mastercard")])
def test_success_cards_capture_at_once(sandbox, merchant_id, number, brand):
    result = sandbox.authorize(authorize_request(number=number, amount=1999, capture=True))

    assert result.outcome == Outcome.SUCCEEDED
    assert (result.amount_authorized, result.amount_captured, result.raw_status) == (1999, 1999, "succeeded")
    charge = SandboxCharge.objects.get(id=result.processor_reference)
    assert (charge.merchant_id, charge.brand, charge.last4, charge.status) == (
        merchant_id,
        brand,
        number[-4:],
        "succeeded",
    )
    assert (charge.amount_authorized, charge.amount_captured) == (1999, 1999)


def test_success_card_with_manual_capture_only_authorizes(sandbox):
    result = sandbox.authorize(authorize_request(capture=False, amount=5000))

    assert result.outcome == Outcome.SUCCEEDED
    assert (result.amount_authorized, result.amount_captured, result.raw_status) == (5000, 0, "requires_capture")
    assert SandboxCharge.objects.get(id=result.processor_reference).status == "requires_capture"


@pytest.mark.parametrize(("number", "brand"), [("378282246310005", "amex"), ("6011111111111117", "discover")])
def test_any_other_valid_card_succeeds(sandbox, number, brand):
    result = sandbox.authorize(authorize_request(number=number, cvc="1234" if brand == "amex" else "123"))

    assert result.outcome == Outcome.SUCCEEDED
    assert SandboxCharge.objects.get(id=result.processor_reference).brand == brand


@pytest.mark.parametrize(("number", "decline_code", "error_code"), DECLINES)
def test_decline_cards(sandbox, number, decline_code, error_code):
    result = sandbox.authorize(authorize_request(number=number))

    assert result.outcome == Outcome.DECLINED
    assert (result.decline_code, result.error_code) == (decline_code, error_code)
    assert result.message
    assert (result.amount_authorized, result.amount_captured) == (0, 0)
    charge = SandboxCharge.objects.get(id=result.processor_reference)
    assert (charge.status, charge.decline_code, charge.amount_authorized) == ("declined", decline_code, 0)


def test_processing_error_card_is_a_retryable_decline(sandbox):
    result = sandbox.authorize(authorize_request(number="4000000000000119"))

    assert result.outcome == Outcome.DECLINED
    assert result.error_code == "processing_error"
    assert result.extra["retryable"] is True
    assert SandboxCharge.objects.get(id=result.processor_reference).status == "declined"


def test_a_card_past_its_expiry_is_declined_as_expired(sandbox):
    result = sandbox.authorize(authorize_request(exp_month=1, exp_year=2020))

    assert (result.outcome, result.decline_code, result.error_code) == (
        Outcome.DECLINED,
        "expired_card",
        "expired_card",
    )


def test_three_d_secure_card_requires_action(sandbox, settings):
    settings.SANDBOX_BASE_URL = "https://gateway.example/"

    result = sandbox.authorize(authorize_request(number="4000002500003155"))

    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.redirect_url == f"https://gateway.example/sandbox/3ds/{result.processor_reference}"
    charge = SandboxCharge.objects.get(id=result.processor_reference)
    assert (charge.status, charge.action, charge.amount_authorized) == ("requires_action", "pending", 0)


def test_paypal_requires_approval(sandbox):
    result = sandbox.authorize(authorize_request(payment_method_type="paypal", amount=4200, currency="EUR"))

    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.processor_reference.startswith("sbpo_")
    assert result.redirect_url == f"http://127.0.0.1:8000/sandbox/paypal/{result.processor_reference}"
    charge = SandboxCharge.objects.get(id=result.processor_reference)
    assert (charge.payment_method_type, charge.last4, charge.status) == ("paypal", "", "requires_action")


@pytest.mark.parametrize(
    ("amount", "currency", "code"), [(0, "USD", "invalid_amount"), (100, "XYZ", "invalid_currency")]
)
def test_invalid_requests_are_refused_without_a_charge(sandbox, amount, currency, code):
    result = sandbox.authorize(authorize_request(amount=amount, currency=currency))

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, code)
    assert not SandboxCharge.objects.exists()


# --- idempotency -------------------------------------------------------------------------------


def test_same_reference_never_charges_twice(sandbox, reference):
    first = sandbox.authorize(authorize_request(reference=reference))
    second = sandbox.authorize(authorize_request(reference=reference))

    assert second.outcome == Outcome.SUCCEEDED
    assert second.processor_reference == first.processor_reference
    assert SandboxCharge.objects.filter(reference=reference).count() == 1


def test_same_reference_replays_a_decline(sandbox, reference):
    first = sandbox.authorize(authorize_request(reference=reference, number="4000000000009995"))
    second = sandbox.authorize(authorize_request(reference=reference, number="4000000000009995"))

    assert (second.outcome, second.decline_code) == (Outcome.DECLINED, "insufficient_funds")
    assert second.processor_reference == first.processor_reference


def test_same_reference_with_other_parameters_is_an_idempotency_error(sandbox, reference):
    sandbox.authorize(authorize_request(reference=reference, amount=1000))

    result = sandbox.authorize(authorize_request(reference=reference, amount=2000))

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "idempotency_error")
    charge = SandboxCharge.objects.get(reference=reference)
    assert (charge.amount, charge.amount_captured) == (1000, 1000)


def test_references_are_scoped_by_merchant(sandbox, reference, other_merchant_keys):
    other = SandboxConnector(account_id="sandbox", config={"merchant_id": other_merchant_keys.merchant_id})

    mine = sandbox.authorize(authorize_request(reference=reference))
    theirs = other.authorize(authorize_request(reference=reference))

    assert mine.processor_reference != theirs.processor_reference
    assert other.status(reference="x", processor_reference=mine.processor_reference).outcome == Outcome.FAILED


@pytest.mark.django_db(transaction=True)
def test_concurrent_authorizations_with_one_reference_charge_once(merchant_id, reference):
    results = []
    barrier = threading.Barrier(8)

    def worker():
        try:
            connector = SandboxConnector(account_id="sandbox", config={"merchant_id": merchant_id})
            barrier.wait()
            results.append(connector.authorize(authorize_request(reference=reference, amount=700)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert {r.outcome for r in results} == {Outcome.SUCCEEDED}
    assert len({r.processor_reference for r in results}) == 1
    assert SandboxCharge.objects.filter(reference=reference).count() == 1


# --- capture and void --------------------------------------------------------------------------


@pytest.fixture
def authorized(sandbox):
    return sandbox.authorize(authorize_request(capture=False, amount=1000))


def test_partial_capture_releases_the_rest(sandbox, authorized):
    result = sandbox.capture(
        reference="cap_1", processor_reference=authorized.processor_reference, amount=600, currency="USD"
    )

    assert result.outcome == Outcome.SUCCEEDED
    assert (result.amount_authorized, result.amount_captured, result.extra["amount_released"]) == (1000, 600, 400)
    charge = SandboxCharge.objects.get(id=authorized.processor_reference)
    assert (charge.status, charge.amount_captured, charge.capture_reference) == ("succeeded", 600, "cap_1")


def test_capture_is_idempotent_by_reference_and_happens_once(sandbox, authorized):
    ref = authorized.processor_reference
    sandbox.capture(reference="cap_1", processor_reference=ref, amount=600, currency="USD")

    replay = sandbox.capture(reference="cap_1", processor_reference=ref, amount=600, currency="USD")
    other_amount = sandbox.capture(reference="cap_1", processor_reference=ref, amount=700, currency="USD")
    second = sandbox.capture(reference="cap_2", processor_reference=ref, amount=400, currency="USD")

    assert (replay.outcome, replay.amount_captured) == (Outcome.SUCCEEDED, 600)
    assert (other_amount.outcome, other_amount.error_code) == (Outcome.DECLINED, "idempotency_error")
    assert (second.outcome, second.error_code) == (Outcome.DECLINED, "charge_already_captured")
    assert SandboxCharge.objects.get(id=ref).amount_captured == 600


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [(1001, "USD", "amount_too_large"), (0, "USD", "invalid_amount"), (-5, "USD", "invalid_amount"),
     (500, "EUR", "currency_mismatch")],
)  # fmt: skip
def test_capture_bounds(sandbox, authorized, amount, currency, code):
    result = sandbox.capture(
        reference="cap_1", processor_reference=authorized.processor_reference, amount=amount, currency=currency
    )

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, code)
    charge = SandboxCharge.objects.get(id=authorized.processor_reference)
    assert (charge.status, charge.amount_captured) == ("requires_capture", 0)


def test_full_capture_of_the_authorization(sandbox, authorized):
    result = sandbox.capture(
        reference="cap_1", processor_reference=authorized.processor_reference, amount=1000, currency="USD"
    )

    assert (result.outcome, result.amount_captured, result.extra["amount_released"]) == (Outcome.SUCCEEDED, 1000, 0)


def test_void_cancels_an_authorization_and_is_idempotent(sandbox, authorized):
    ref = authorized.processor_reference

    first = sandbox.void(reference="void_1", processor_reference=ref)
    again = sandbox.void(reference="void_1", processor_reference=ref)
    capture = sandbox.capture(reference="cap_1", processor_reference=ref, amount=100, currency="USD")

    assert (first.outcome, first.raw_status) == (Outcome.SUCCEEDED, "canceled")
    assert (again.outcome, again.raw_status) == (Outcome.SUCCEEDED, "canceled")
    assert (capture.outcome, capture.error_code) == (Outcome.DECLINED, "charge_not_capturable")
    charge = SandboxCharge.objects.get(id=ref)
    assert (charge.status, charge.void_reference, charge.amount_captured) == ("canceled", "void_1", 0)


def test_void_of_a_captured_charge_is_refused(sandbox):
    captured = sandbox.authorize(authorize_request(capture=True))

    result = sandbox.void(reference="void_1", processor_reference=captured.processor_reference)

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "charge_already_captured")
    assert SandboxCharge.objects.get(id=captured.processor_reference).status == "succeeded"


def test_void_of_an_unfinished_redirect_flow(sandbox):
    pending = sandbox.authorize(authorize_request(number="4000002500003155"))

    result = sandbox.void(reference="void_1", processor_reference=pending.processor_reference)
    completed = sandbox.complete(reference="x", processor_reference=pending.processor_reference, capture=True)

    assert (result.outcome, result.raw_status) == (Outcome.SUCCEEDED, "canceled")
    assert (completed.outcome, completed.error_code) == (Outcome.DECLINED, "charge_canceled")


def test_operations_on_an_unknown_charge(sandbox):
    assert sandbox.capture(reference="c", processor_reference="sbch_nope", amount=1, currency="USD").error_code == (
        "resource_missing"
    )
    assert sandbox.void(reference="v", processor_reference="sbch_nope").error_code == "resource_missing"
    assert sandbox.refund(reference="r", processor_reference="sbch_nope", amount=1, currency="USD").error_code == (
        "resource_missing"
    )


# --- refunds -------------------------------------------------------------------------------------


@pytest.fixture
def captured(sandbox):
    return sandbox.authorize(authorize_request(capture=True, amount=1000))


def refund(sandbox, charge, amount, reference, currency="USD"):
    return sandbox.refund(
        reference=reference, processor_reference=charge.processor_reference, amount=amount, currency=currency
    )


def test_partial_refunds_up_to_the_captured_amount(sandbox, captured):
    first = refund(sandbox, captured, 300, "re_1")
    second = refund(sandbox, captured, 700, "re_2")
    third = refund(sandbox, captured, 1, "re_3")

    assert (first.outcome, first.amount_refunded, first.extra["charge_amount_refunded"]) == (
        Outcome.SUCCEEDED,
        300,
        300,
    )
    assert (second.outcome, second.extra["charge_amount_refunded"]) == (Outcome.SUCCEEDED, 1000)
    assert (third.outcome, third.error_code) == (Outcome.DECLINED, "amount_too_large")
    assert SandboxCharge.objects.get(id=captured.processor_reference).amount_refunded == 1000
    assert sorted(SandboxRefund.objects.values_list("amount", flat=True)) == [300, 700]


def test_refund_over_the_captured_amount_is_refused(sandbox, captured):
    result = refund(sandbox, captured, 1001, "re_1")

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "amount_too_large")
    assert not SandboxRefund.objects.exists()


def test_refund_is_bounded_by_captured_not_authorized(sandbox):
    charge = sandbox.authorize(authorize_request(capture=False, amount=1000))
    sandbox.capture(reference="cap", processor_reference=charge.processor_reference, amount=600, currency="USD")

    too_much = refund(sandbox, charge, 601, "re_1")
    exact = refund(sandbox, charge, 600, "re_2")

    assert (too_much.outcome, too_much.error_code) == (Outcome.DECLINED, "amount_too_large")
    assert exact.outcome == Outcome.SUCCEEDED


def test_refund_is_idempotent_by_reference(sandbox, captured):
    first = refund(sandbox, captured, 400, "re_1")

    replay = refund(sandbox, captured, 400, "re_1")
    reused = refund(sandbox, captured, 500, "re_1")

    assert (replay.outcome, replay.processor_reference) == (Outcome.SUCCEEDED, first.processor_reference)
    assert (reused.outcome, reused.error_code) == (Outcome.DECLINED, "idempotency_error")
    assert SandboxRefund.objects.count() == 1
    assert SandboxCharge.objects.get(id=captured.processor_reference).amount_refunded == 400


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [(0, "USD", "invalid_amount"), (-1, "USD", "invalid_amount"), (100, "EUR", "currency_mismatch")],
)
def test_refund_validation(sandbox, captured, amount, currency, code):
    assert refund(sandbox, captured, amount, "re_1", currency).error_code == code
    assert not SandboxRefund.objects.exists()


@pytest.mark.parametrize("kind", ["authorized", "declined", "requires_action"])
def test_only_captured_charges_can_be_refunded(sandbox, kind):
    request = {
        "authorized": authorize_request(capture=False),
        "declined": authorize_request(number="4000000000000002"),
        "requires_action": authorize_request(number="4000002500003155"),
    }[kind]
    charge = sandbox.authorize(request)

    result = refund(sandbox, charge, 100, "re_1")

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "charge_not_captured")
    assert not SandboxRefund.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_captured_amount(merchant_id):
    connector = SandboxConnector(account_id="sandbox", config={"merchant_id": merchant_id})
    charge = connector.authorize(authorize_request(capture=True, amount=1000))
    results = []
    barrier = threading.Barrier(20)

    def worker(index):
        try:
            barrier.wait()
            results.append(refund(connector, charge, 150, f"re_{index}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    succeeded = [r for r in results if r.outcome == Outcome.SUCCEEDED]
    assert len(results) == 20
    assert len(succeeded) == 6  # 6 * 150 = 900 <= 1000 < 7 * 150
    assert {r.error_code for r in results if r.outcome != Outcome.SUCCEEDED} == {"amount_too_large"}
    assert SandboxCharge.objects.get(id=charge.processor_reference).amount_refunded == 900
    assert sum(SandboxRefund.objects.values_list("amount", flat=True)) == 900


# --- status queries ----------------------------------------------------------------------------


def test_status_by_our_reference_reports_the_charge(sandbox, reference):
    sandbox.authorize(authorize_request(reference=reference, capture=False, amount=800))

    result = sandbox.status(reference=reference, processor_reference=None)

    assert (result.outcome, result.raw_status, result.amount_authorized) == (Outcome.SUCCEEDED, "requires_capture", 800)


def test_status_follows_capture_and_refunds(sandbox, reference):
    charge = sandbox.authorize(authorize_request(reference=reference, capture=False, amount=800))
    sandbox.capture(reference="cap_9", processor_reference=charge.processor_reference, amount=500, currency="USD")
    refund(sandbox, charge, 200, "re_1")

    by_id = sandbox.status(reference=reference, processor_reference=charge.processor_reference)
    by_capture_reference = sandbox.status(reference="cap_9", processor_reference=None)

    for result in (by_id, by_capture_reference):
        assert (result.raw_status, result.amount_captured, result.amount_refunded) == ("succeeded", 500, 200)


def test_status_of_a_decline(sandbox, reference):
    sandbox.authorize(authorize_request(reference=reference, number="4000000000009987"))

    result = sandbox.status(reference=reference, processor_reference=None)

    assert (result.outcome, result.decline_code, result.error_code) == (Outcome.DECLINED, "lost_card", "card_declined")


def test_status_of_an_unknown_reference_says_it_never_happened(sandbox):
    result = sandbox.status(reference="att_never", processor_reference=None)

    assert (result.outcome, result.error_code, result.raw_status) == (Outcome.FAILED, "resource_missing", "not_found")


def test_refund_status(sandbox, captured):
    created = refund(sandbox, captured, 250, "re_1")

    by_reference = sandbox.refund_status(reference="re_1", processor_refund_reference=None)
    by_id = sandbox.refund_status(reference="", processor_refund_reference=created.processor_reference)
    missing = sandbox.refund_status(reference="re_missing", processor_refund_reference=None)

    assert (by_reference.outcome, by_reference.amount_refunded) == (Outcome.SUCCEEDED, 250)
    assert by_id.processor_reference == created.processor_reference
    assert (missing.outcome, missing.error_code) == (Outcome.FAILED, "resource_missing")


def test_every_result_reports_its_latency(sandbox):
    result = sandbox.authorize(authorize_request())

    assert isinstance(result.latency_ms, int) and result.latency_ms >= 0


def test_huge_amounts_are_refused_not_crashed(sandbox):
    result = sandbox.authorize(authorize_request(amount=2**63))

    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "invalid_amount")


def test_an_invalid_repeat_of_a_reference_is_an_idempotency_error(sandbox, reference):
    sandbox.authorize(authorize_request(reference=reference))

    result = sandbox.authorize(authorize_request(reference=reference, amount=0))

    assert result.error_code == "idempotency_error"


# --- query budgets (the sandbox sits on the create+confirm hot path) ------------------------------


def test_authorize_query_budget(sandbox, django_assert_num_queries):
    # the first call loads the merchant's sandbox settings and fault plan (2), then savepoint + insert + release
    with django_assert_num_queries(5):
        assert sandbox.authorize(authorize_request()).outcome == Outcome.SUCCEEDED
    # then they come from the process's configuration cache, and no fault plan means no UPDATE
    with django_assert_num_queries(3):
        assert sandbox.authorize(authorize_request()).outcome == Outcome.SUCCEEDED


def test_authorize_outside_a_transaction_is_one_statement(sandbox, transactional_db, django_assert_num_queries):
    sandbox.authorize(authorize_request())  # settings and plan loaded into the process's cache

    # no BEGIN/COMMIT around it either: the INSERT is its own transaction
    with django_assert_num_queries(1):
        assert sandbox.authorize(authorize_request()).outcome == Outcome.SUCCEEDED


def test_refund_query_budget(sandbox, captured, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        assert refund(sandbox, captured, 100, "re_1").outcome == Outcome.SUCCEEDED
