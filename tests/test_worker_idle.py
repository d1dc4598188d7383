"""The worker fixture's idle check (``WorkerProcess.wait_idle`` in tests/conftest.py), on which the
"nothing was sent twice" checks of the real-worker tests rely: seen to hold and to fail."""

import uuid

import pytest

from gateway_project.celery import app
from tests.conftest import WorkerProcess

RECEIVED = "[2026-01-01 00:00:00,000: INFO/MainProcess] Task orders.tasks.notification_send[{id}] received\n"
RETRY = "[2026-01-01 00:00:00,000: INFO/MainProcess] Task orders.tasks.notification_send[{id}] retry: Retry in 1s: X\n"
SUCCEEDED = (
    "[2026-01-01 00:00:00,000: INFO/MainProcess] Task orders.tasks.notification_send[{id}] succeeded in 0.01s: 'sent'\n"
)
FIRST, SECOND = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def worker(tmp_path) -> WorkerProcess:
    """Never started: a queue no one consumes and a log the test writes."""
    worker = WorkerProcess(f"gateway-test-idle-{uuid.uuid4().hex[:8]}", tmp_path / "worker.log")
    worker.log_path.write_text("")
    yield worker
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(worker.queue)


def _log(worker: WorkerProcess, *lines: str) -> None:
    with open(worker.log_path, "a") as log:
        log.writelines(lines)


def test_a_retried_task_is_unfinished_until_each_of_its_messages_has_ended(worker):
    # Celery's own order: the retry's message is received before the first run logs its retry
    _log(worker, RECEIVED.format(id=FIRST), RECEIVED.format(id=FIRST))
    assert worker.unfinished_tasks() == [FIRST]
    _log(worker, RETRY.format(id=FIRST))
    assert worker.unfinished_tasks() == [FIRST]  # the second message waits for its countdown
    _log(worker, RECEIVED.format(id=SECOND), SUCCEEDED.format(id=SECOND), SUCCEEDED.format(id=FIRST))
    assert worker.unfinished_tasks() == []


def test_a_restarted_worker_counts_only_its_own_lines(worker):
    _log(worker, RECEIVED.format(id=FIRST))  # the killed run never ended it
    worker._log_start = worker.log_path.stat().st_size
    assert worker.unfinished_tasks() == []


@pytest.mark.filterwarnings("ignore:task_always_eager has no effect on send_task")
def test_wait_idle_fails_while_a_task_is_unfinished_or_queued_and_returns_once_idle(worker):
    _log(worker, RECEIVED.format(id=FIRST))
    with pytest.raises(AssertionError, match=FIRST):
        worker.wait_idle(timeout=0.5)
    _log(worker, SUCCEEDED.format(id=FIRST))
    app.send_task("gateway.tasks.idempotency_keys_purge", queue=worker.queue)  # nobody consumes it
    with pytest.raises(AssertionError, match="not idle"):
        worker.wait_idle(timeout=0.5)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(worker.queue)
    worker.wait_idle()
