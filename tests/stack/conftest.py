"""The production stack as real processes (deploy/stack.py): nginx (TLS, round robin) -> gateway
instances (gunicorn, production settings, the venv built from requirements.txt alone) -> PgBouncer
(transaction pooling) -> PostgreSQL, with a Celery worker and beat, an SMTP sink and a webhook
receiver. One stack serves every test in this package; tests that kill a process restart it.

Each run has its own database, cache key prefix and queue, so it shares Redis with other test runs
safely. The database is dropped afterwards.
"""

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import pytest
import redis
import requests

from deploy.stack import ROOT, Stack, StackConfig

pytestmark = pytest.mark.slow

CARD_4242 = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
PASSWORD = "correct horse battery staple"


def _prod_python():
    python = ROOT / ".venv-prod" / "bin" / "python"
    if not (ROOT / ".venv-prod" / "bin" / ".installed").exists():
        subprocess.run(["make", "prod-venv"], cwd=ROOT, check=True, timeout=900)
    return python


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from django.conf import settings

    run = uuid.uuid4().hex[:8]
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("stack"),
        instances=2,
        database=f"stack_{run}",
        recreate_database=True,
        redis_url=settings.REDIS_URL,
        broker_url=settings.CELERY_BROKER_URL,
        cache_prefix=f"stk{run}",
        queue=f"stack-{run}",
        prod_python=_prod_python(),
        sink_python=__import__("pathlib").Path(sys.executable),
        extra_env={
            # The janitor on a short leash so crash tests see outcomes resolved within the test. A
            # call a killed instance never sent is proved so by the sandbox's "not found", trusted
            # once the operation is older than any request could still be running (two processor
            # timeouts of 2 + 5 s, and a loaded machine): so the schedule must outlast that age, or
            # such a payment is flagged for an operator instead (the schedule is a clock: 220 s).
            "PAYMENTS_SYNC_INTERVAL_SECONDS": "2",
            "PAYMENTS_INFLIGHT_TIMEOUT_SECONDS": "20",
            "PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS": "30",
            "PAYMENTS_SYNC_SCHEDULE_SECONDS": "10,10,10,10,10,10,10,30,60,60",
            # A sync queued on a worker that is then killed is queued again after this (its message
            # is lost with the worker): 600 s in production, too long for a test that kills one.
            "PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS": "10",
            "WEBHOOK_SWEEP_INTERVAL_SECONDS": "2",
            "WEBHOOK_STUCK_AFTER_SECONDS": "10",
            "ORDER_NOTIFICATION_REQUEUE_INTERVAL_SECONDS": "5",
            "ORDER_NOTIFICATION_STALE_SECONDS": "10",
            "LEDGER_VERIFY_INTERVAL_SECONDS": "0",
            # A key held by a killed instance's request is taken over by a retry after this (every
            # request here is far shorter: the sandbox answers in milliseconds); the processors'
            # timeouts stay within it (two calls of 2 + 5 s), as processor accounts require.
            "IDEMPOTENCY_REQUEST_DEADLINE_SECONDS": "15",
            "PROCESSOR_CONNECT_TIMEOUT": "2",
            "PROCESSOR_READ_TIMEOUT": "5",
        },
    )
    stack = Stack(config)
    stack.up()
    try:
        yield stack
    finally:
        stack.down()
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{config.cache_prefix}:*"):
            client.delete(key)
        client.delete(config.queue)
        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')


@pytest.fixture
def stack_db(stack):
    """SQL against the stack's database (the tests run outside Django's test database)."""
    with psycopg.connect(stack.database_url(direct=True), autocommit=True) as conn:
        yield conn


@dataclass
class ApiClient:
    """HTTP client of one merchant, through the balancer (or straight to one instance)."""

    stack: Stack
    secret_key: str
    publishable_key: str
    merchant_id: str
    instances: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, instance: int | None = None) -> str:
        return (self.stack.instance_url(instance) if instance else self.stack.url) + path

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        instance: int | None = None,
        idempotency_key: str | None = None,
        json_body=None,
        timeout: float = 60,
        **kwargs,
    ):
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {key or self.secret_key}")
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if instance:  # straight to an instance: say what nginx would (TLS was terminated in front)
            headers["X-Forwarded-Proto"] = "https"
        response = requests.request(
            method,
            self.url(path, instance),
            headers=headers,
            json=json_body,
            timeout=timeout,
            verify=self.stack.ca_file,
            **kwargs,
        )
        served_by = response.headers.get("Gateway-Instance")
        if served_by:
            with self._lock:
                self.instances[served_by] += 1
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs):
        return self.request("POST", path, json_body=body if body is not None else {}, **kwargs)


def merchant_client(stack: Stack, name: str = "Stack Merchant") -> ApiClient:
    created = json.loads(stack.manage("create_merchant", "--name", name, "--json").stdout)
    return ApiClient(stack, created["secret_key"], created["publishable_key"], created["merchant_id"])


@pytest.fixture
def merchant(stack) -> ApiClient:
    # Every instance in rotation first: after test_failover restarts web1, nginx skips it for
    # fail_timeout (10 s), and CI once ran the whole walk-through on web2 inside that window.
    stack.wait_balanced()
    return merchant_client(stack, f"Merchant {uuid.uuid4().hex[:6]}")


def wait_for(condition, *, timeout: float = 120, interval: float = 0.25, message: str = "", detail=None):
    """Wait for a condition, not for a time: generous deadline, returns as soon as it holds.
    ``detail``: called on timeout, its value put in the failure (what was still missing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            found = f": {detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {message or condition}{found}")
        time.sleep(interval)
