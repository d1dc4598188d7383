"""Guarantees that must hold across instances, over the real stack (two gunicorn instances behind
nginx, PgBouncer in transaction mode): each would fail if its state lived in one process."""

import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import CARD_4242

pytestmark = pytest.mark.slow


def spread(count: int) -> list[int | None]:
    """Targets for `count` requests: the balancer and each instance directly, in turn."""
    return [(None, 1, 2)[i % 3] for i in range(count)]


def at_once(count: int, send) -> list:
    """Send `count` requests from real threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def one(index: int):
        barrier.wait(timeout=60)
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_one_idempotency_key_sent_to_every_instance_at_once_executes_once(merchant, stack_db):
    # Given 36 identical requests with one key, to the balancer and straight to each instance
    key = f"same-{uuid.uuid4().hex}"
    body = {
        "amount": 1234,
        "currency": "usd",
        "confirm": True,
        "metadata": {"ref": key},
        "payment_method": {"type": "card", "card": CARD_4242},
    }
    targets = spread(36)

    # When they arrive at once
    responses = at_once(36, lambda i: merchant.post("/v1/payments", body, idempotency_key=key, instance=targets[i]))

    # Then every answer is the one result or "in flight, retry", and both instances answered
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1, created
    assert all(r.json()["error"]["code"] == "idempotency_key_in_use" for r in responses if r.status_code == 409)
    assert {"web1", "web2"} <= set(merchant.instances)
    # and the database and the processor's book hold one payment and one charge
    payments = stack_db.execute(
        "SELECT id FROM payments_payment WHERE merchant_id = %s AND metadata->>'ref' = %s", [merchant.merchant_id, key]
    ).fetchall()
    assert [row[0] for row in payments] == list(created)
    charges = stack_db.execute(
        "SELECT count(*) FROM sandbox_sandboxcharge WHERE reference IN "
        "(SELECT id FROM payments_paymentattempt WHERE payment_id = %s)",
        [payments[0][0]],
    ).fetchone()[0]
    assert charges == 1
    # and a later retry replays the same payment
    replay = merchant.post("/v1/payments", body, idempotency_key=key, instance=2)
    assert (replay.status_code, replay.json()["id"], replay.headers.get("Idempotent-Replayed")) == (
        201,
        created.pop(),
        "true",
    )


def test_one_merchants_token_bucket_is_shared_by_every_instance(stack, merchant, stack_db):
    # Given a merchant allowed a burst of 10 and (practically) no refill
    stack_db.execute(
        "UPDATE merchants_merchant SET rate_limit_burst = 10, rate_limit_per_second = 0.0001 WHERE id = %s",
        [merchant.merchant_id],
    )
    targets = spread(30)

    # When 30 requests arrive at once, spread over the balancer and both instances
    responses = at_once(30, lambda i: merchant.get("/v1/account", instance=targets[i]))

    # Then exactly the burst passes, whichever instance served it
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 10, 429: 20}, statuses
    assert {"web1", "web2"} <= set(merchant.instances)
    assert all(r.headers.get("Retry-After") for r in responses if r.status_code == 429)


class RateLimitedProcessor:
    """A processor that answers every call 429 (a transport failure: the breaker counts it) and
    counts the calls it received."""

    def __init__(self):
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.calls += 1
                body = json.dumps({"error": {"type": "rate_limit_error", "message": "Too many requests"}}).encode()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_breaker_opened_through_one_instance_is_open_on_the_other(stack, merchant, stack_db):
    processor = RateLimitedProcessor()
    try:
        # Given EUR card payments routed to one Stripe account whose breaker opens after 2 failures
        account = json.loads(
            stack.manage(
                "processor_account_create",
                "--merchant",
                merchant.merchant_id,
                "--processor",
                "stripe",
                "--name",
                "Stripe (rate limited)",
                "--base-url",
                processor.base_url,
                "--breaker-fail-max",
                "2",
                "--breaker-reset-timeout",
                "3600",
                "--credentials-env",
                "STRIPE_CREDENTIALS",
                "--json",
                env={"STRIPE_CREDENTIALS": json.dumps({"secret_key": "sk_test_fake", "webhook_secret": "whsec_x"})},
            ).stdout
        )
        stack.manage(
            "processor_route_set",
            "--merchant",
            merchant.merchant_id,
            "--method",
            "card",
            "--currency",
            "eur",
            "--accounts",
            account["id"],
        )
        body = {
            "amount": 500,
            "currency": "eur",
            "confirm": True,
            "payment_method": {"type": "card", "card": CARD_4242},
        }

        # When two payments fail through web1 (the processor saw both) ...
        for _ in range(2):
            failed = merchant.post("/v1/payments", body, idempotency_key=f"brk-{uuid.uuid4().hex}", instance=1)
            assert failed.status_code == 503, failed.text
        assert processor.calls == 2

        # ... then a payment through web2 fails fast: the processor is not called at all
        fast = merchant.post("/v1/payments", body, idempotency_key=f"brk-{uuid.uuid4().hex}", instance=2)
        assert (fast.status_code, fast.json()["error"]["code"]) == (503, "processor_unavailable")
        assert fast.headers["Gateway-Instance"] == "web2"
        assert processor.calls == 2
        codes = [
            row[0]
            for row in stack_db.execute(
                "SELECT a.error_code FROM payments_paymentattempt a JOIN payments_payment p ON p.id = a.payment_id "
                "WHERE p.merchant_id = %s ORDER BY a.id",
                [merchant.merchant_id],
            ).fetchall()
        ]
        assert codes[-1] == "circuit_open", codes
    finally:
        processor.close()


def test_a_cache_invalidation_on_one_instance_is_seen_by_the_next_read_on_another(merchant):
    # Given a customer and a payment read (and cached) through web1
    customer = merchant.post(
        "/v1/customers", {"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "Before"}, instance=1
    ).json()
    payment = merchant.post(
        "/v1/payments",
        {"amount": 2000, "currency": "usd", "confirm": True, "payment_method": {"type": "card", "card": CARD_4242}},
        idempotency_key=uuid.uuid4().hex,
        instance=1,
    ).json()
    for _ in range(2):
        assert merchant.get(f"/v1/customers/{customer['id']}", instance=1).json()["name"] == "Before"
        assert merchant.get(f"/v1/payments/{payment['id']}", instance=1).json()["amount_refunded"] == 0

    # When web2 changes both
    renamed = merchant.request("PATCH", f"/v1/customers/{customer['id']}", json_body={"name": "After"}, instance=2)
    assert renamed.status_code == 200, renamed.text
    refunded = merchant.post(
        "/v1/refunds", {"payment": payment["id"], "amount": 700}, idempotency_key=uuid.uuid4().hex, instance=2
    )
    assert refunded.status_code == 201, refunded.text

    # Then the next read on web1 sees the change
    assert merchant.get(f"/v1/customers/{customer['id']}", instance=1).json()["name"] == "After"
    assert merchant.get(f"/v1/payments/{payment['id']}", instance=1).json()["amount_refunded"] == 700
