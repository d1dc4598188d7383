"""Production smoke: what the Dockerfile installs, run the way production runs it.

Run with the interpreter of a virtualenv built from ``requirements.txt`` alone (``make prod-smoke``
builds ``.venv-prod`` and calls this). Uses the standard library and the runtime requirements
only, so a dependency that only the dev requirements bring in fails here, not in production.

1. imports every module of the project under the production settings;
2. migrates a scratch database, runs ``check --deploy`` and every management command's ``--help``;
3. starts gunicorn (the Dockerfile's command line), a Celery worker and beat, all with the production
   settings, and waits for ``/readyz`` to answer 200;
4. pays with a test card over HTTP, sees the worker run a task sent by hand and one sent by beat.

Loopback only; every wait has a deadline; all processes are stopped at the end.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from base64 import urlsafe_b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
PG = os.environ.get("PROD_SMOKE_PG", "postgres://postgres@127.0.0.1:5432")
DB = "gateway_prod_smoke"
REDIS = os.environ.get("PROD_SMOKE_REDIS", "redis://127.0.0.1:6379")

IMPORT_ALL = r"""
import importlib, pkgutil, sys
from pathlib import Path
import django
django.setup()
from django.apps import apps
root = Path.cwd().resolve()
packages = {"gateway_project"} | {
    config.name.split(".")[0] for config in apps.get_app_configs() if (root / config.name.split(".")[0]).is_dir()
}
count = 0
for name in sorted(packages):
    package = importlib.import_module(name)
    count += 1
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        importlib.import_module(info.name)
        count += 1
print(f"imported {count} modules of {len(packages)} packages: {', '.join(sorted(packages))}")
"""

LIST_COMMANDS = r"""
from pathlib import Path
import django
django.setup()
from django.core.management import get_commands
root = Path.cwd().resolve()
for name, app in sorted(get_commands().items()):
    if (root / app.split(".")[0]).is_dir():
        print(name)
"""


def step(message: str) -> None:
    print(f"prod-smoke: {message}", flush=True)


def environment(run_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ENCRYPTION_KEYS="smoke1:" + urlsafe_b64encode(os.urandom(32)).decode(),
        HMAC_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=f"{PG}/{DB}",
        REDIS_URL=f"{REDIS}/11",
        CELERY_BROKER_URL=f"{REDIS}/12",
        CELERY_TASK_DEFAULT_QUEUE=f"prod-smoke-{uuid.uuid4().hex[:8]}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        GATEWAY_INSTANCE="prod-smoke",
        # beat's shortest period, shortened so the smoke sees beat send a task and the worker run it
        WEBHOOK_SWEEP_INTERVAL_SECONDS="2",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    env.pop("PYTHONHOME", None)
    return env


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"prod-smoke: FAILED: {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def recreate_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')


def flush_redis() -> None:
    import redis

    for db in (11, 12):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


class Services:
    def __init__(self, run_dir: Path, env: dict[str, str]):
        self.run_dir = run_dir
        self.env = env
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, args: list[str]) -> None:
        log_path = self.run_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed when the process is stopped
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = (process, log_path)

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text(errors="replace")

    def check_alive(self) -> None:
        for name, (process, _) in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(
                    f"prod-smoke: FAILED: {name} exited with {process.returncode}:\n{self.log(name)[-4000:]}"
                )

    def wait_for(self, what: str, condition, deadline_seconds: float = 90) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            self.check_alive()
            if condition():
                return
            time.sleep(0.25)
        logs = "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.processes)
        raise SystemExit(f"prod-smoke: FAILED: timed out waiting for {what}\n{logs}")

    def stop(self) -> None:
        for process, _ in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def http(method: str, url: str, *, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return 0, {}


def main() -> int:
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="gateway-prod-smoke-"))
    env = environment(run_dir)
    step(f"interpreter {PY}")

    pip_check = subprocess.run([PY, "-m", "pip", "check"], capture_output=True, text=True)
    if pip_check.returncode != 0:
        raise SystemExit(f"prod-smoke: FAILED: pip check\n{pip_check.stdout}")
    step("pip check: no broken requirements")

    step(run([PY, "-c", IMPORT_ALL], env).stdout.strip())

    recreate_database(env)
    flush_redis()
    run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
    run([PY, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    commands = run([PY, "-c", LIST_COMMANDS], env).stdout.split()
    for command in commands:
        run([PY, "manage.py", command, "--help"], env)
    step(f"migrated; check --deploy clean; {len(commands)} management commands load: {' '.join(commands)}")
    keys = json.loads(run([PY, "manage.py", "create_merchant", "--name", "Smoke", "--json"], env).stdout)
    run([PY, "manage.py", "ledger_verify"], env)

    services = Services(run_dir, env)
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    try:
        # The Dockerfile's CMD, bound to loopback.
        services.start(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "gateway_project.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "30",
                "--keep-alive",
                "75",
                "--access-logfile",
                "-",
            ],
        )
        services.start(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "gateway_project",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "-n",
                f"smoke-{uuid.uuid4().hex[:6]}@%h",
            ],
        )
        services.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "gateway_project",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(run_dir / "celerybeat-schedule"),
            ],
        )

        services.wait_for("the worker to be ready", lambda: " ready." in services.log("worker"))
        services.wait_for("/readyz 200", lambda: http("GET", f"{base}/readyz")[0] == 200)
        step(f"/readyz 200: {http('GET', f'{base}/readyz')[1]['checks']}")

        headers = {
            "Authorization": f"Bearer {keys['secret_key']}",
            "Idempotency-Key": f"smoke-{uuid.uuid4().hex}",
            "X-Forwarded-Proto": "https",  # what the TLS-terminating proxy sends; production redirects plain http
        }
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        status, payment = http(
            "POST",
            f"{base}/v1/payments",
            headers=headers,
            body={"amount": 1999, "currency": "usd", "confirm": True, "payment_method": {"type": "card", "card": card}},
        )
        if status != 201 or payment.get("status") != "succeeded":
            raise SystemExit(
                f"prod-smoke: FAILED: card payment answered {status} {payment}\n{services.log('gunicorn')[-3000:]}"
            )
        step(f"card payment over gunicorn: {payment['id']} {payment['status']}")

        sent = run([str(BIN / "celery"), "-A", "gateway_project", "call", "gateway.tasks.idempotency_keys_purge"], env)
        task_id = sent.stdout.strip().splitlines()[-1]
        services.wait_for(
            f"the worker to run task {task_id}",
            lambda: f"gateway.tasks.idempotency_keys_purge[{task_id}] succeeded" in services.log("worker"),
        )
        services.wait_for(
            "beat to send a task that the worker runs",
            lambda: (
                "Sending due task" in services.log("beat")
                and "events.tasks.deliveries_sweep[" in services.log("worker")
                and "succeeded" in services.log("worker")
            ),
        )
        step("worker ran a task sent by hand and one sent by beat")
        services.check_alive()
    finally:
        services.stop()
    step(f"OK in {time.monotonic() - started:.1f} s (logs in {run_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
