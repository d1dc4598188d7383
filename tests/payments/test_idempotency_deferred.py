"""Issue 14: on POST /v1/payments (and its confirm) the Idempotency-Key is claimed inside the
transaction that creates the payment, and the answer stored in the transaction that settles the
processor's answer. Every guarantee of a claim made before executing still holds."""

import pytest
from django.db import transaction
from django.utils import timezone

from gateway.context import idempotency_claim_var
from gateway.errors import Conflict
from gateway.idempotency import Claim, idempotency_recovery_point
from gateway.models import IdempotencyKey
from payments.models import Payment
from tests.payments.conftest import DECLINE, assert_books_balance, card, sandbox_charges

BODY = {"amount": 2000, "currency": "usd", "payment_method": card(), "confirm": True}

pytestmark = pytest.mark.django_db


def post(client, key: str, body=None, path: str = "/v1/payments"):
    return client.post(path, body if body is not None else BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)


def key_row(merchant_id: str, key: str) -> IdempotencyKey:
    return IdempotencyKey.objects.get(merchant_id=merchant_id, key=key)


def test_the_key_holds_the_payment_and_the_answer_the_client_got(secret_client, merchant_keys):
    response = post(secret_client, "d-1")

    assert response.status_code == 201 and response.json()["status"] == "succeeded"
    row = key_row(merchant_keys.merchant_id, "d-1")
    assert (row.recovery_object_type, row.recovery_object_id, row.recovery_status) == (
        "payment",
        response.json()["id"],
        201,
    )
    assert row.response_status == 201 and row.locked_at is None and row.claim_token is not None
    replay = post(secret_client, "d-1")
    assert replay.content == response.content and replay["Idempotent-Replayed"] == "true"
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1


def test_a_key_held_by_a_request_in_flight_makes_the_duplicate_roll_back_and_answer_409(secret_client, merchant_keys):
    first = post(secret_client, "d-2")
    # As if the first request were still running: its key claimed, no answer yet.
    IdempotencyKey.objects.filter(key="d-2").update(response_status=None, response_body=None, locked_at=timezone.now())

    duplicate = post(secret_client, "d-2")

    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "idempotency_key_in_use"
    # The duplicate's own payment was rolled back with its failed claim; nothing charged twice.
    assert list(Payment.objects.filter(merchant_id=merchant_keys.merchant_id).values_list("id", flat=True)) == [
        first.json()["id"]
    ]
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1
    assert_books_balance()


def test_another_body_under_a_used_key_is_422_and_creates_nothing(secret_client, merchant_keys):
    post(secret_client, "d-3")

    other = post(secret_client, "d-3", {**BODY, "amount": 2001})

    assert other.status_code == 422
    assert Payment.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1
    assert len(sandbox_charges(merchant_keys.merchant_id)) == 1


def test_a_decline_is_stored_after_the_settlement_and_replayed_byte_for_byte(secret_client, merchant_keys):
    body = {**BODY, "payment_method": card(DECLINE)}
    declined = post(secret_client, "d-4", body)

    assert declined.status_code == 402
    replay = post(secret_client, "d-4", body)
    assert (replay.status_code, replay.content) == (402, declined.content)
    assert key_row(merchant_keys.merchant_id, "d-4").response_status == 402


def test_an_answer_before_any_payment_exists_is_stored_too(secret_client, merchant_keys):
    body = {**BODY, "customer": "cus_missing"}
    missing = post(secret_client, "d-5", body)

    assert missing.status_code == 404
    row = key_row(merchant_keys.merchant_id, "d-5")
    assert row.response_status == 404 and row.recovery_object_id == ""
    assert post(secret_client, "d-5", body).content == missing.content


def test_a_request_refused_by_validation_keeps_no_key(secret_client, merchant_keys):
    assert post(secret_client, "d-6", {**BODY, "amount": "lots"}).status_code == 400
    assert not IdempotencyKey.objects.filter(key="d-6").exists()


def test_confirm_claims_its_key_with_the_attempt(secret_client, merchant_keys):
    created = secret_client.post("/v1/payments", {**BODY, "confirm": False}, format="json")
    path = f"/v1/payments/{created.json()['id']}/confirm"

    confirmed = post(secret_client, "d-7", {}, path=path)

    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.content
    row = key_row(merchant_keys.merchant_id, "d-7")
    assert (row.recovery_object_id, row.recovery_status, row.response_status) == (created.json()["id"], 200, 200)
    assert post(secret_client, "d-7", {}, path=path).content == confirmed.content


def test_a_recovery_point_under_a_claim_taken_over_is_refused_and_rolls_back(merchant_keys):
    row = IdempotencyKey.objects.create(
        merchant_id=merchant_keys.merchant_id,
        scope="test:secret",
        key="d-8",
        claim_token="00000000-0000-4000-8000-000000000001",
    )
    stale = idempotency_claim_var.set(Claim(row_id=row.pk, token="00000000-0000-4000-8000-000000000002"))
    try:
        with pytest.raises(Conflict), transaction.atomic():
            idempotency_recovery_point(object_type="payment", object_id="pay_x", created=True)
    finally:
        idempotency_claim_var.reset(stale)
    row.refresh_from_db()
    assert row.recovery_object_id == ""
