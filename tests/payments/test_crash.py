"""Issue 13, section 4: the bounded crash test. Real gunicorn (its workers SIGKILLed while requests
are in flight at the sandbox's injected latency) and a real Celery worker (SIGKILLed while it runs
the payments' tasks); clients retry with the same Idempotency-Key until they get an answer. Then
the invariants: at most one charge per payment (the sandbox's book against the payments), the
ledger balanced per currency against the payments and the sandbox, every key answerable with its
payment, and no unresolved attempt once the janitor ran.

On the code before issue 13 it fails: a killed request's key answers 409 for 24 hours, so a client
never learns the outcome of its payment (the "every key answered" check)."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from ledger.selectors import account_balances
from payments.models import UNRESOLVED_ATTEMPT_STATUSES, Payment, PaymentAttempt
from payments.reconciliation import ledger_check
from payments.tasks import payments_sync_due
from sandbox.models import SandboxCharge
from tests.conftest import REPO_ROOT, free_port, make_merchant_keys, service_env, wait_for_http
from tests.waiting import WAIT_SECONDS, wait_until

from .conftest import card, set_sandbox_options

PAYMENTS = 40
CLIENTS = 8
WORKER_KILLS = 6
LATENCY_MS = 400
# The processes under test recover quickly: a request holding its key 3 s is presumed dead, a call
# in flight 3 s is asked about, a "not found" is trusted at once, the schedule runs in seconds.
FAST_RECOVERY = {
    "IDEMPOTENCY_REQUEST_DEADLINE_SECONDS": "3",
    "PAYMENTS_INFLIGHT_TIMEOUT_SECONDS": "3",
    "PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS": "0",
    "PAYMENTS_SYNC_SCHEDULE_SECONDS": "2,2,2,2,2,2,2,2,2,2",
    "RATE_LIMIT_ENABLED": "0",  # the clients' retries are the point here, not their rate
}
ANSWERED = (200, 201, 402)
# A client gives up on a request only when its worker died, not because a loaded machine is slow:
# giving up on a request still running would race it with the retry ("not found" trusted at once).
REQUEST_TIMEOUT_SECONDS = WAIT_SECONDS
# Minutes, not seconds: gunicorn brings a killed worker back by importing Django, tens of seconds on
# a loaded machine, and a request may wait for that. A key still unanswered by then is never
# answered (before issue 13 a killed request's key answered 409 for 24 hours).
ANSWER_DEADLINE_SECONDS = 3 * WAIT_SECONDS


def _children(pid: int) -> list[int]:
    """The gunicorn master's worker processes (from /proc: no psutil needed)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


class Gunicorn:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")  # noqa: SIM115
        self.log_path = log_path
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "gateway_project.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "120",
            ],
            cwd=REPO_ROOT,
            env=service_env(**FAST_RECOVERY),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_http(f"{self.base_url}/healthz", self.process, lambda: log_path.read_text()[-2000:])

    def kill_a_worker(self) -> bool:
        workers = _children(self.process.pid)
        if not workers:
            return False
        os.kill(random.choice(workers), signal.SIGKILL)
        return True

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Client:
    """Pays with an Idempotency-Key and retries the same key until it has an answer."""

    def __init__(self, base_url: str, secret_key: str):
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {secret_key}"}
        self.answers: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.lost = self.in_use = self.server_errors = 0

    @staticmethod
    def body(n: int) -> dict:
        return {"amount": 1000 + n, "currency": "usd" if n % 3 else "eur", "payment_method": card(), "confirm": True}

    def pay(self, n: int) -> None:
        key = f"crash-{n}"
        body = self.body(n)
        deadline = time.monotonic() + ANSWER_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                response = requests.post(
                    f"{self.base_url}/v1/payments",
                    json=body,
                    headers={**self.headers, "Idempotency-Key": key},
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )
            except requests.RequestException:
                with self.lock:
                    self.lost += 1
                time.sleep(0.3)  # the worker died under us: same key again
                continue
            if response.status_code in ANSWERED:
                data = response.json()
                with self.lock:
                    self.answers[key] = data.get("error", {}).get("payment") or data
                return
            with self.lock:
                self.in_use += response.status_code == 409
                self.server_errors += response.status_code >= 500
            time.sleep(0.3)  # 409 (still claimed), 5xx: retry with the same key
        raise AssertionError(f"{key}: no answer within {ANSWER_DEADLINE_SECONDS} s")


@pytest.mark.slow
@pytest.mark.timeout(900)  # pytest-timeout's 300 s catches hangs; under load this run takes minutes
@pytest.mark.django_db(transaction=True)
def test_sigkills_mid_request_and_mid_task_lose_no_outcome_and_charge_nothing_twice(
    request, monkeypatch, tmp_path, settings
):
    for name, value in FAST_RECOVERY.items():
        monkeypatch.setenv(name, value)  # the Celery worker reads them too
    keys = make_merchant_keys("Crash")
    set_sandbox_options(keys.merchant_id, latency_ms=LATENCY_MS)
    worker = request.getfixturevalue("celery_worker")
    server = Gunicorn(tmp_path / "gunicorn.log")
    client = Client(server.base_url, keys.secret_key)
    kills = {"gunicorn": 0, "celery": 0}
    try:
        # When N clients pay while gunicorn workers are SIGKILLed mid-request (each request spends
        # LATENCY_MS at the sandbox) and the Celery worker is SIGKILLed while running their tasks
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client.pay, n) for n in range(PAYMENTS)]
            while kills["gunicorn"] < WORKER_KILLS and not all(f.done() for f in futures):
                wait_until(lambda: len(client.answers) >= kills["gunicorn"] * PAYMENTS // (WORKER_KILLS + 2) + 2)
                time.sleep(LATENCY_MS / 1000 / 2)
                kills["gunicorn"] += server.kill_a_worker()
                if kills["gunicorn"] == WORKER_KILLS // 2:
                    worker.kill()
                    kills["celery"] += 1
                    worker.start()
            for future in futures:
                future.result(timeout=WAIT_SECONDS)

        # ... and the janitor runs (on the real worker) over whatever was left unresolved
        def janitor_done() -> bool:
            unresolved = PaymentAttempt.objects.filter(status__in=UNRESOLVED_ATTEMPT_STATUSES)
            if not unresolved.exists():
                return True
            unresolved.filter(next_sync_at__gt=timezone.now()).update(next_sync_at=timezone.now())
            payments_sync_due.delay()
            time.sleep(0.5)
            return False

        wait_until(janitor_done, interval=0.5, message="every attempt resolved by the janitor")
        worker.wait_idle()
        # Every key still answers with its payment: a retry of the request, and the list by key
        for n in range(PAYMENTS):
            key = f"crash-{n}"
            retry = requests.post(
                f"{server.base_url}/v1/payments",
                json=client.body(n),
                headers={**client.headers, "Idempotency-Key": key},
                timeout=30,
            )
            found = requests.get(
                f"{server.base_url}/v1/payments", params={"idempotency_key": key}, headers=client.headers, timeout=30
            )
            assert retry.status_code in ANSWERED, (key, retry.status_code, retry.content)
            retried = retry.json().get("error", {}).get("payment") or retry.json()
            assert [p["id"] for p in found.json()["data"]] == [retried["id"]] == [client.answers[key]["id"]], key
    finally:
        server.stop()
    print(
        f"\ncrash test: {PAYMENTS} payments; SIGKILLed {kills['gunicorn']} gunicorn workers, {kills['celery']} "
        f"Celery worker; clients saw {client.lost} lost connections, {client.in_use} 409 in_use, "
        f"{client.server_errors} 5xx"
    )
    # The kills hit requests in flight (their clients lost the connection and retried the key)
    assert kills["gunicorn"] >= 1 and client.lost >= 1

    payments = list(Payment.objects.filter(merchant_id=keys.merchant_id))
    attempts_to_payment = dict(PaymentAttempt.objects.values_list("id", "payment_id"))
    by_key = {p.idempotency_key: p for p in payments}

    # Then every key is answered with its payment, and no key made two
    assert len(client.answers) == PAYMENTS
    assert len(by_key) == len(payments) == PAYMENTS
    for key, answer in client.answers.items():
        assert answer["id"] == by_key[key].id, key
    # At most one charge per payment (the sandbox's book against the payments)
    charges = defaultdict(list)
    for charge in SandboxCharge.objects.filter(merchant_id=keys.merchant_id):
        charges[attempts_to_payment[charge.reference]].append(charge)
    assert all(len(c) <= 1 for c in charges.values()), {p: len(c) for p, c in charges.items() if len(c) > 1}
    # No unresolved attempt, and every payment ended somewhere final for a card payment
    assert not PaymentAttempt.objects.filter(status__in=UNRESOLVED_ATTEMPT_STATUSES).exists()
    assert {p.status for p in payments} <= {"succeeded", "requires_payment_method"}
    # The ledger balanced, and per currency it equals the payments and the sandbox's captures
    assert ledger_check(merchant_id=keys.merchant_id) == []
    for currency in ("USD", "EUR"):
        received = sum(p.amount_received for p in payments if p.currency == currency)
        captured = sum(c.amount_captured for cs in charges.values() for c in cs if c.currency == currency)
        receivable = sum(
            b.balance
            for b in account_balances(merchant_id=keys.merchant_id, currency=currency)
            if b.code == "processor_receivable"
        )
        assert received == captured == receivable, currency
