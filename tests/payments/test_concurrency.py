"""Races with real threads on PostgreSQL, each thread on its own connection, through the API.

The sandbox adds latency to every call so that the racing requests really overlap while the
processor is being called (the window in which a naive implementation would charge twice). No
assertion depends on how much they overlap: a busy machine that serialises them must give the
same outcome."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from merchants.models import Merchant
from payments.models import Payment, PaymentAttempt, Refund
from sandbox.models import SandboxCharge
from tests.waiting import WAIT_SECONDS

from .conftest import assert_books_balance, card, sandbox_charges, sandbox_refunds, set_sandbox_options

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def racing_merchant(merchant_keys):
    """No rate limit in the way of the burst; the sandbox takes 150 ms per call."""
    Merchant.objects.filter(id=merchant_keys.merchant_id).update(rate_limit_per_second=10_000, rate_limit_burst=10_000)
    set_sandbox_options(merchant_keys.merchant_id, latency_ms=150)
    return merchant_keys


def race(count: int, request) -> list:
    """Run ``request(client)`` in ``count`` threads released together; returns the responses."""
    barrier = threading.Barrier(count)

    def run(_):
        client = APIClient()
        try:
            barrier.wait(timeout=WAIT_SECONDS)  # 50 threads starting on a busy machine
            return request(client)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_identical_requests_with_one_key_charge_once(racing_merchant):
    body = {"amount": 4200, "currency": "usd", "payment_method": card(), "confirm": True}

    def post(client):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {racing_merchant.secret_key}")
        return client.post("/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="order-42-attempt-1")

    responses = race(50, post)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r.json() for r in responses if r.status_code == 201]
    assert created and len({c["id"] for c in created}) == 1
    assert all(r.json()["error"]["code"] == "idempotency_key_in_use" for r in responses if r.status_code == 409)
    assert Payment.objects.filter(merchant_id=racing_merchant.merchant_id).count() == 1
    assert PaymentAttempt.objects.count() == 1
    (charge,) = sandbox_charges(racing_merchant.merchant_id)
    assert charge.amount_captured == 4200
    # a retry after the race replays the one response
    replay = APIClient()
    replay.credentials(HTTP_AUTHORIZATION=f"Bearer {racing_merchant.secret_key}")
    again = replay.post("/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="order-42-attempt-1")
    assert again.status_code == 201 and again.json()["id"] == created[0]["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert SandboxCharge.objects.filter(merchant_id=racing_merchant.merchant_id).count() == 1
    assert_books_balance()


def test_twenty_concurrent_refunds_never_exceed_the_capture(racing_merchant):
    client = racing_merchant.client()
    payment = client.post(
        "/v1/payments", {"amount": 1000, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    ).json()
    assert payment["status"] == "succeeded"

    def refund(client):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {racing_merchant.secret_key}")
        return client.post("/v1/refunds", {"payment": payment["id"], "amount": 150}, format="json")

    responses = race(20, refund)

    succeeded = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(succeeded) == 6  # 6 x 150 = 900 <= 1000 < 7 x 150
    assert all(r.json()["status"] == "succeeded" for r in succeeded)
    assert {r.json()["error"]["code"] for r in refused} == {"amount_too_large"}
    row = Payment.objects.get(pk=payment["id"])
    assert row.amount_refunded == 900 <= row.amount_received
    assert Refund.objects.filter(payment=row, status="succeeded").count() == 6
    assert sum(r.amount for r in sandbox_refunds(racing_merchant.merchant_id)) == 900
    assert_books_balance()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_capture_and_cancel_have_exactly_one_winner(racing_merchant, round_):
    client = racing_merchant.client()
    payment = client.post(
        "/v1/payments",
        {"amount": 3000, "currency": "usd", "capture_method": "manual", "payment_method": card(), "confirm": True},
        format="json",
    ).json()
    assert payment["status"] == "requires_capture"
    paths = [f"/v1/payments/{payment['id']}/capture", f"/v1/payments/{payment['id']}/cancel"] * 3

    index = iter(range(len(paths)))
    lock = threading.Lock()

    def act(client):
        with lock:
            path = paths[next(index)]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {racing_merchant.secret_key}")
        return path, client.post(path, {}, format="json")

    results = race(len(paths), act)

    winners = [(path, r) for path, r in results if r.status_code == 200]
    losers = [r for _, r in results if r.status_code != 200]
    assert len(winners) == 1, [(p, r.status_code, r.content[:200]) for p, r in results]
    assert all(r.status_code == 409 and r.json()["error"]["code"] == "payment_unexpected_state" for r in losers)
    path, response = winners[0]
    final = Payment.objects.get(pk=payment["id"])
    (charge,) = sandbox_charges(racing_merchant.merchant_id)
    if path.endswith("/capture"):
        assert (final.status, final.amount_received, charge.status) == ("succeeded", 3000, "succeeded")
    else:
        assert (final.status, final.amount_received, charge.status) == ("canceled", 0, "canceled")
    assert response.json()["status"] == final.status
    operations = list(PaymentAttempt.objects.filter(payment=final).values_list("operation", flat=True))
    assert sorted(operations) == sorted(["authorize", "capture" if path.endswith("/capture") else "void"])
    assert_books_balance()


def test_concurrent_confirms_of_one_payment_charge_once(racing_merchant):
    client = racing_merchant.client()
    payment = client.post("/v1/payments", {"amount": 2500, "currency": "usd"}, format="json").json()

    def confirm(client):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {racing_merchant.secret_key}")
        return client.post(f"/v1/payments/{payment['id']}/confirm", {"payment_method": card()}, format="json")

    responses = race(10, confirm)

    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"payment_unexpected_state"}
    assert len(sandbox_charges(racing_merchant.merchant_id)) == 1
    assert Payment.objects.get(pk=payment["id"]).amount_received == 2500
    assert_books_balance()
