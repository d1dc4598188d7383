"""Payments benchmark: gateway create+confirm vs a raw-SQL baseline, measured in the same run.

Usage: make bench   (or: .venv/bin/python bench/run.py [--duration 15] [--connections 16])

Both servers run under gunicorn with identical settings on 127.0.0.1; the gateway uses the
production settings on PostgreSQL and Redis. wrk drives each with unique Idempotency-Keys.
Prints requests/s, p50 and p99 for both and the throughput ratio (goal: gateway >= 0.5x baseline).
Loopback only; every run is bounded by --duration.
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import urlsafe_b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
GATEWAY_DB = "gateway_bench"
BASELINE_DB = "gateway_bench_baseline"
CARD_BODY = {
    "amount": 1999,
    "currency": "usd",
    "confirm": True,
    "payment_method": {
        "type": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("installing wrk (Debian package)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )
    return shutil.which("wrk") or "wrk"


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def gateway_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL=f"{PG}/{GATEWAY_DB}",
        REDIS_URL="redis://127.0.0.1:6379/9",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/10",
        CELERY_TASK_DEFAULT_QUEUE="gateway-bench",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        RATE_LIMIT_BURST="1000000",
        RATE_LIMIT_PER_SECOND="1000000",
        ENCRYPTION_KEYS="bench1:" + urlsafe_b64encode(os.urandom(32)).decode(),
        HMAC_KEY=urlsafe_b64encode(os.urandom(32)).decode(),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def start_gunicorn(app: str, env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return proc, url
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error means the server is up
                return proc, url
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


def run_wrk(wrk: str, url: str, key: str, duration: int, connections: int, run: str) -> dict:
    env = dict(os.environ, BENCH_BODY=json.dumps(CARD_BODY), BENCH_KEY=key, BENCH_RUN=run)
    out = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "post.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("JSON "))
    stats = json.loads(line[5:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    wrk = ensure_wrk()
    run = secrets.token_hex(4)

    recreate_database(GATEWAY_DB)
    recreate_database(BASELINE_DB)
    env = gateway_env()
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    keys = json.loads(
        subprocess.run(
            [PY, "manage.py", "create_merchant", "--name", "Bench", "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    baseline_env = dict(env, BASELINE_DSN=f"{PG}/{BASELINE_DB}")
    subprocess.run(
        [PY, "-c", "import bench.baseline_app as b; b.create_schema()"], cwd=ROOT, env=baseline_env, check=True
    )

    results = {}
    for name, app, target_env, path in (
        ("baseline", "bench.baseline_app:application", baseline_env, "/v1/payments"),
        ("gateway", "gateway_project.wsgi:application", env, "/v1/payments"),
    ):
        proc, url = start_gunicorn(app, target_env, args.workers)
        try:
            run_wrk(wrk, url + path, keys["secret_key"], 3, args.connections, f"{run}-warm-{name}")  # warm-up
            results[name] = run_wrk(
                wrk, url + path, keys["secret_key"], args.duration, args.connections, f"{run}-{name}"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    print(f"\n{'target':<10} {'req/s':>10} {'p50 ms':>10} {'p99 ms':>10} {'non-2xx':>8} {'errors':>7}")
    for name, stats in results.items():
        print(
            f"{name:<10} {stats['rps']:>10.1f} {stats['p50_us'] / 1000:>10.2f} {stats['p99_us'] / 1000:>10.2f}"
            f" {stats['non2xx']:>8} {stats['socket_errors']:>7}"
        )
    ratio = results["gateway"]["rps"] / results["baseline"]["rps"]
    print(f"\nthroughput ratio gateway/baseline: {ratio:.2f} (goal >= 0.50)")
    if results["gateway"]["non2xx"] or results["gateway"]["socket_errors"]:
        print("WARNING: the gateway answered non-2xx or dropped connections during the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
