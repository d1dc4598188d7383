"""Shared fixtures. Tests run against real PostgreSQL and Redis (gateway_project.settings.test).

* ``merchant_keys`` / ``secret_client`` / ``publishable_client``: a merchant with real API keys.
* ``celery_worker``: a real ``celery worker`` process on the real broker, reading the test
  database (use with ``@pytest.mark.django_db(transaction=True)`` so it can see the rows).
* ``live_server_gunicorn``: gunicorn serving the gateway on 127.0.0.1, on the test database.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from deploy.ports import reserve_port
from merchants.services import merchant_create
from tests.waiting import WAIT_SECONDS

REPO_ROOT = Path(__file__).resolve().parent.parent

# Hypothesis times each example (200 ms deadline) and its data generation (the too_slow health
# check): on a loaded machine a descheduled process fails either, whatever the code does.
hypothesis_settings.register_profile("loaded-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("loaded-machine")


def _flush_retrying_deadlocks():
    """A transactional test's teardown flushes the database (TRUNCATE of every table). A real worker
    or server process of the suite may still be writing (a webhook delivery after the test's last
    assertion): PostgreSQL then breaks the deadlock by aborting one side, and if that is the
    TRUNCATE the test's rows stay behind for the next test. The flush is retried instead."""
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test import testcases

    original = testcases.TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except (CommandError, OperationalError) as exc:
                cause = f"{exc} {exc.__cause__}"
                if "deadlock detected" not in cause or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    testcases.TransactionTestCase._fixture_teardown = teardown


_flush_retrying_deadlocks()


@pytest.fixture(autouse=True, scope="session")
def _no_session_state():
    """Every connection of the suite refuses SQL that would break behind PgBouncer (see session_state)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    from tests import session_state

    def on_created(sender, connection, **kwargs):
        session_state.install(connection)

    connection_created.connect(on_created, weak=False)
    for conn in connections.all(initialized_only=True):
        session_state.install(conn)
    yield
    connection_created.disconnect(on_created)


@pytest.fixture(autouse=True)
def _no_session_state_here():
    """Connections are per thread: make sure this thread's is guarded too."""
    from django.db import connection

    from tests import session_state

    session_state.install(connection)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (rate-limit buckets, cached objects).

    Only this cache's prefixed keys are deleted: the Celery broker may share the Redis db.
    """
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
    yield


@dataclass
class MerchantKeys:
    merchant_id: str
    secret_key: str
    publishable_key: str

    def client(self, kind: str = "secret") -> APIClient:
        client = APIClient()
        key = self.secret_key if kind == "secret" else self.publishable_key
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client


def make_merchant_keys(name: str = "Acme") -> MerchantKeys:
    created = merchant_create(name=name)
    return MerchantKeys(created.merchant.id, created.secret_key.raw_key, created.publishable_key.raw_key)


@pytest.fixture
def merchant_keys(db) -> MerchantKeys:
    return make_merchant_keys("Acme")


@pytest.fixture
def other_merchant_keys(db) -> MerchantKeys:
    return make_merchant_keys("Globex")


@pytest.fixture
def secret_client(merchant_keys) -> APIClient:
    return merchant_keys.client("secret")


@pytest.fixture
def publishable_client(merchant_keys) -> APIClient:
    return merchant_keys.client("publishable")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def free_port() -> int:
    """A port for a server started later, by another process: reserved against every other test run
    and stack on the machine, and outside the kernel's ephemeral range (deploy/ports.py)."""
    return reserve_port()


def test_database_url() -> str:
    settings_dict = connection.settings_dict
    return (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


def service_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that shares this test run's database, Redis and queue."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings.test",
        DATABASE_URL=test_database_url(),
        DB_CONN_MAX_AGE="0",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


# How long a server process we start may take to answer, and one request to it: generous, as
# the waits return as soon as it answers (a loaded 2-core CI machine can take tens of seconds).
STARTUP_DEADLINE_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 30.0


def wait_for_http(url: str, process: subprocess.Popen, failure: Callable[[], str]) -> requests.Response:
    """Poll ``url`` until the server ``process`` answers (any status); fail if it exits or the deadline passes.

    Every transport error counts as "not yet": refused while it binds, a read timeout while it
    imports Django, a reset while it forks its workers.
    """
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        try:
            return requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS)
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(failure()) from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def celery_queue_name() -> str:
    return f"gateway-test-{uuid.uuid4().hex[:8]}"


# Celery's own lines about a task message (celery.app.trace): received, then retry:, succeeded, raised, ...
_TASK_LOG_LINE = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]+)\] (?P<what>\S+)")


class WorkerProcess:
    def __init__(self, queue: str, log_path: Path, broker_url: str | None = None):
        self.queue = queue
        self.log_path = log_path
        self.broker_url = broker_url
        self.process: subprocess.Popen | None = None
        self._log_start = 0

    def start(self) -> None:
        from django.conf import settings

        env = service_env(
            CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            CELERY_BROKER_URL=self.broker_url or settings.CELERY_BROKER_URL,
            EMAIL_BACKEND=os.environ.get("WORKER_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        )
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self._log_start = self.log.tell()  # this run's lines (a restarted worker appends to the log)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gateway_project",
                "worker",
                "-Q",
                self.queue,
                "--concurrency=2",
                "--pool=threads",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.queue}-{uuid.uuid4().hex[:4]}@%h",
                "--loglevel=INFO",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_path.read_text()[-2000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start: {self.log_path.read_text()[-2000:]}")

    def wait_idle(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until the worker has nothing left to do: its queue is empty and every task message
        it received has run to its end (a message held for its countdown has not). After this,
        "nothing happened twice" is a meaningful check, with no sleep a busy machine could make
        too short."""
        deadline = time.monotonic() + timeout
        idle_in_a_row = 0
        while True:
            idle = self._queue_depth() == 0 and not self.unfinished_tasks()
            idle_in_a_row = idle_in_a_row + 1 if idle else 0
            if idle_in_a_row == 2:  # twice: a message taken off the queue is logged a moment later
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not idle within {timeout} s: {self.unfinished_tasks()}")
            time.sleep(0.2)

    def unfinished_tasks(self) -> list[str]:
        """Ids of tasks with more messages ``received`` than ended, in this run's log.

        Each received message ends in exactly one line of Celery's about it (``retry:``,
        ``succeeded``, ``raised``, ...). Counting, not taking the last line, because a retry's
        new message can be received, and even run, before the old run's ``retry:`` is logged.
        """
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            text = log.read().decode(errors="replace")
        open_messages: dict[str, int] = {}
        for match in _TASK_LOG_LINE.finditer(text):
            change = 1 if match["what"] == "received" else -1
            open_messages[match["id"]] = open_messages.get(match["id"], 0) + change
        return [task_id for task_id, count in open_messages.items() if count > 0]

    def _queue_depth(self) -> int:
        from django.conf import settings
        from kombu.exceptions import ChannelError

        from gateway_project.celery import app

        with app.connection_for_write(self.broker_url or settings.CELERY_BROKER_URL) as conn:
            try:
                return conn.default_channel.queue_declare(queue=self.queue, passive=True).message_count
            except ChannelError:  # Redis drops an empty list: no queue is an empty queue
                return 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@pytest.fixture
def celery_broker_url(request, settings) -> str:
    """The broker the worker fixture uses; parametrize indirectly to use another (e.g. RabbitMQ)."""
    return getattr(request, "param", settings.CELERY_BROKER_URL)


@pytest.fixture
def celery_worker(transactional_db, celery_queue_name, tmp_path, settings, celery_broker_url):
    """A real worker process consuming a queue unique to this test run."""
    from gateway_project.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    app.conf.task_default_queue = celery_queue_name
    worker = WorkerProcess(celery_queue_name, tmp_path / "worker.log", broker_url=celery_broker_url)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        with app.connection_for_write(celery_broker_url) as conn:
            conn.default_channel.queue_purge(celery_queue_name)  # nothing leaks into the next test
        app.conf.task_always_eager = True
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def live_server_gunicorn(transactional_db, tmp_path):
    """gunicorn as a real process on 127.0.0.1; yields its base URL."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "gateway_project.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "120",  # a worker importing Django on a loaded machine must not be killed as silent
            ],
            cwd=REPO_ROOT,
            env=service_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base_url}/healthz", process, lambda: f"gunicorn did not start: {log_path.read_text()[-2000:]}")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
