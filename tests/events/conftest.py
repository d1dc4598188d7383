import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, service_env

from .helpers import Receiver

# Small delays so the real-worker tests take seconds, not days; the worker reads them from its env.
# The attempt timeout stays generous: a receiver's answer on a loaded machine must not time out
# (a test that needs a timeout overrides it, see ``webhook_env``).
WORKER_WEBHOOK_ENV = {
    "WEBHOOK_RETRY_BASE_SECONDS": 0.3,
    "WEBHOOK_RETRY_JITTER": 0.0,
    "WEBHOOK_TIMEOUT_SECONDS": 30.0,
    "WEBHOOK_STUCK_AFTER_SECONDS": 1.0,
    "WEBHOOK_SWEEP_INTERVAL_SECONDS": 1.0,
    "WEBHOOK_ALLOW_HTTP": True,
    "WEBHOOK_ALLOW_PRIVATE_URLS": True,
}


@pytest.fixture
def receiver_factory():
    receivers: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def webhook_env(request, settings, monkeypatch):
    """The same webhook settings in this process and in worker/beat processes started after it.

    Parametrize indirectly with a dict to override some, e.g. ``{"WEBHOOK_TIMEOUT_SECONDS": 5.0}``.
    """
    values = {**WORKER_WEBHOOK_ENV, **getattr(request, "param", {})}
    for name, value in values.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, "1" if value is True else str(value))
    return values


@pytest.fixture
def events_worker(webhook_env, celery_worker):
    """A real Celery worker started with the small webhook delays."""
    return celery_worker


@pytest.fixture
def celery_beat(events_worker, celery_queue_name, tmp_path, settings):
    """A real ``celery beat`` sending the periodic tasks (sweep every second) to the worker's queue."""
    log_path = tmp_path / "beat.log"
    env = service_env(
        CELERY_TASK_DEFAULT_QUEUE=celery_queue_name,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gateway_project",
                "beat",
                "--loglevel=INFO",
                f"--schedule={tmp_path / 'beat-schedule'}",
                f"--pidfile={tmp_path / 'beat.pid'}",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
