"""Kill -9 an instance, then the worker, in the middle of a bounded load over the balancer.

Every client request either succeeds or gets an error it can retry with the same Idempotency-Key;
the retries converge to one payment per key; nothing is charged twice; every event still reaches the
webhook receiver; the books balance. The load is bounded (a fixed number of payments) and every wait
has a deadline, so the test stops by itself.
"""

import base64
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import CARD_4242, wait_for

pytestmark = pytest.mark.slow

CLIENTS = 8
PAYMENTS_PER_CLIENT = 10
RETRYABLE_CODES = {
    "idempotency_key_in_use",
    "instance_unavailable",
    "processor_unavailable",
    "api_error",
    "rate_limited",
}


class Load:
    """Clients paying over the balancer, each payment retried with its key until it is answered."""

    def __init__(self, merchant):
        self.merchant = merchant
        self.completed = 0
        self.lock = threading.Lock()
        self.answers: dict[str, list] = {}
        self.final: dict[str, dict] = {}
        self.bodies: dict[str, dict] = {}

    def pay(self, key: str, amount: int) -> None:
        body = {
            "amount": amount,
            "currency": "usd",
            "confirm": True,
            "metadata": {"ref": key},
            "payment_method": {"type": "card", "card": CARD_4242},
        }
        self.bodies[key] = body
        deadline = time.monotonic() + 300
        answers = self.answers.setdefault(key, [])
        while True:
            try:
                response = self.merchant.post("/v1/payments", body, idempotency_key=key, timeout=45)
            except requests.RequestException as exc:  # the connection to nginx itself failed: retry
                answers.append(type(exc).__name__)
            else:
                answers.append(response.status_code)
                if response.status_code == 201:
                    self.final[key] = response.json()
                    with self.lock:
                        self.completed += 1
                    return
                error = response.json()["error"]
                # every failure must be one the client can retry with the same key
                assert response.status_code in (409, 429, 502, 503) and error["code"] in RETRYABLE_CODES, response.text
            assert time.monotonic() < deadline, f"{key} never converged: {answers}"
            # The merchant's token bucket (25/s, burst 50) refuses a fast machine's load with 429 and
            # says when to come back: a client waits as told.
            time.sleep(float(response.headers.get("Retry-After", 0.5)) if answers[-1] == 429 else 0.5)

    def client(self, number: int) -> None:
        for n in range(PAYMENTS_PER_CLIENT):
            self.pay(f"load-{uuid.uuid4().hex[:10]}-{number}-{n}", 1000 + number * 100 + n)


def test_kill_an_instance_and_the_worker_mid_load(stack, merchant, stack_db):
    endpoint = merchant.post(
        "/v1/webhook_endpoints", {"url": stack.webhook_url, "enabled_events": ["payment.succeeded"]}
    )
    assert endpoint.status_code == 201
    load = Load(merchant)
    total = CLIENTS * PAYMENTS_PER_CLIENT

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(load.client, n) for n in range(CLIENTS)]
        try:
            # When web1 (master and workers) is killed with SIGKILL a quarter of the way in ...
            wait_for(lambda: load.completed >= total // 4, timeout=300, message="a quarter of the load")
            stack.kill_instance(1)
            # ... and the Celery worker half way in, both restarted three quarters in
            wait_for(lambda: load.completed >= total // 2, timeout=300, message="half of the load")
            stack.kill_worker()
            wait_for(lambda: load.completed >= total * 3 // 4, timeout=300, message="three quarters of the load")
        finally:
            if not stack.processes["web1"].alive:
                stack.start_instance(1)
            if not stack.processes["worker"].alive:
                stack.start_worker()
        stack.wait_instance_ready(1)
        for future in futures:
            future.result(timeout=600)

    # Then every key converged to one payment ...
    assert len(load.final) == total
    rows = stack_db.execute(
        "SELECT metadata->>'ref', id FROM payments_payment WHERE merchant_id = %s", [merchant.merchant_id]
    ).fetchall()
    by_key: dict[str, list[str]] = {}
    for ref, payment_id in rows:
        by_key.setdefault(ref, []).append(payment_id)
    assert len(by_key) == total and all(len(found) == 1 for found in by_key.values())
    assert {key: by_key[key][0] for key in load.final} == {key: p["id"] for key, p in load.final.items()}

    # ... and the janitor resolved whatever the killed instance left in flight, by asking the
    # processor: nothing stays processing, unknown or flagged for an operator
    def unsettled() -> list:
        return stack_db.execute(
            "SELECT p.id, p.status, a.status, a.error_code, a.flagged_at FROM payments_payment p "
            "LEFT JOIN payments_paymentattempt a ON a.payment_id = p.id "
            "AND (a.status IN ('started', 'unknown', 'pending') OR a.flagged_at IS NOT NULL) "
            "WHERE p.merchant_id = %s AND (p.status = 'processing' OR a.id IS NOT NULL)",
            [merchant.merchant_id],
        ).fetchall()

    wait_for(lambda: not unsettled(), timeout=300, message="every payment settled", detail=unsettled)
    statuses = dict(
        stack_db.execute(
            "SELECT id, status FROM payments_payment WHERE merchant_id = %s", [merchant.merchant_id]
        ).fetchall()
    )
    succeeded = {payment_id for payment_id, status in statuses.items() if status == "succeeded"}
    # A payment not succeeded is one whose charge the killed instance never sent: the processor's
    # "not found" (trusted once old enough) settled it as not processed, ready for another method.
    # Only requests in flight on the killed instance can end so: at most one per client.
    unsent = {payment_id: status for payment_id, status in statuses.items() if payment_id not in succeeded}
    assert set(unsent.values()) <= {"requires_payment_method"} and len(unsent) <= CLIENTS, unsent
    failed_codes = stack_db.execute(
        "SELECT DISTINCT error_code FROM payments_paymentattempt WHERE payment_id = ANY(%s) AND status <> 'succeeded'",
        [list(unsent)],
    ).fetchall()
    assert {code for (code,) in failed_codes} <= {"not_found", "resource_missing"}, failed_codes

    # Nothing charged twice, and nothing charged for a payment that did not succeed: one captured
    # charge in the processor's book per succeeded payment, none for the others
    charges = dict(
        stack_db.execute(
            "SELECT a.payment_id, count(*) FROM sandbox_sandboxcharge c JOIN payments_paymentattempt a "
            "ON a.id = c.reference JOIN payments_payment p ON p.id = a.payment_id "
            "WHERE p.merchant_id = %s GROUP BY a.payment_id",
            [merchant.merchant_id],
        ).fetchall()
    )
    assert charges == dict.fromkeys(succeeded, 1)

    # The client learns the outcome by retrying with its key: the same payment, as it now stands
    for key in load.final:
        if by_key[key][0] in unsent:
            again = merchant.post("/v1/payments", load.bodies[key], idempotency_key=key)
            assert again.status_code in (200, 201), again.text
            assert (again.json()["id"], again.json()["status"]) == (by_key[key][0], "requires_payment_method")

    # Every payment.succeeded event reached the receiver despite the killed worker
    def delivered() -> bool:
        seen = {json.loads(base64.b64decode(d["body_b64"]))["data"]["object"]["id"] for d in stack.webhooks()}
        return succeeded <= seen

    wait_for(delivered, timeout=240, message="a webhook per payment")
    verified = stack.manage("ledger_verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    retried = {key: answers for key, answers in load.answers.items() if len(answers) > 1}
    print(f"{total} payments, {len(retried)} retried, {len(unsent)} never sent: {retried}")
