"""Payments benchmark: gateway create+confirm vs a raw-SQL baseline, measured in the same run.

Usage: make bench   (or: .venv/bin/python bench/run.py [--duration 15] [--connections 16])

Both servers run under gunicorn with identical settings on 127.0.0.1; the gateway uses the
production settings on PostgreSQL and Redis. wrk drives each with unique Idempotency-Keys.
Prints requests/s, p50 and p99 for both and the throughput ratio (issue 14's target: >= 0.20x); the
baseline's writes again in the gateway's three transactions (``BASELINE_STEPS=3``), which prices the
commits the at-most-once design requires apart from the framework; the floor, the same three
transactions inside the gateway's Django stack (authentication, the token bucket, DRF; no payment
logic: ``bench/bare_app.py``), which prices the framework apart from the payment logic; the
app CPU per request (CPU seconds of the gunicorn workers from /proc / requests) and PostgreSQL
transactions per request; the same create+confirm with 3 ``gthread`` workers; ``GET
/v1/payments/{id}`` (cache hit) against a bare Django view returning a constant JSON body under the
same gunicorn (target >= 0.8x; the ratio is the median of GET_PAIRS short runs of the two in
alternation, since this VM's speed drifts between longer runs); and, from bench/cost.py, the
statements per create+confirm. Loopback only; every run is bounded by --duration (eight runs of it,
plus warm-ups and 2 x GET_PAIRS runs of PAIR_SECONDS).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import urlsafe_b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.baseline_app import create_schema  # noqa: E402
from bench.cost import processes_cpu_seconds, recreate_database  # noqa: E402
from deploy.ports import reserve_port  # noqa: E402

PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
GATEWAY_DB = "gateway_bench"
GET_PAIRS = 8  # alternating GET / bare view runs
PAIR_SECONDS = 3
BASELINE_DB = "gateway_bench_baseline"
FLOOR = "floor: Django + DRF, 3 xacts"  # bench/bare_app.py: the stack around the baseline's writes
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
    return reserve_port()


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


def start_gunicorn(
    app: str, env: dict[str, str], workers: int, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *extra,
        ],
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


def workers_cpu_seconds(master: int) -> float:
    """utime + stime of the gunicorn master's children (its workers), from /proc."""
    total = 0
    for task in Path(f"/proc/{master}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds this machine spent not idle (all cores, every process: wrk included)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = values[3], values[4]
    return (sum(values[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def database_transactions(name: str) -> int:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [name]
        ).fetchone()
    return int(row[0])


def measured(
    wrk: str,
    url: str,
    key: str,
    duration: int,
    connections: int,
    run: str,
    *,
    master: int,
    script="post.lua",
    database: str = GATEWAY_DB,
):
    """One wrk run with the CPU per request around it: the gunicorn workers', PostgreSQL's, Redis's
    and the whole machine's; and the database's transactions per request."""

    def sample() -> tuple[float, ...]:
        return (
            workers_cpu_seconds(master),
            processes_cpu_seconds("postgres"),
            processes_cpu_seconds("redis-server"),
            machine_busy_seconds(),
        )

    before, xacts = sample(), database_transactions(database)
    stats = run_wrk(wrk, url, key, duration, connections, run, script=script)
    after = sample()
    time.sleep(0.6)  # PostgreSQL flushes its statistics every 500 ms or so
    requests = max(stats["requests"], 1)
    for name, start, end in zip(("cpu_ms", "pg_ms", "redis_ms", "all_ms"), before, after, strict=True):
        stats[name] = (end - start) * 1000 / requests
    stats["xacts"] = (database_transactions(database) - xacts) / requests
    return stats


def run_wrk(wrk: str, url: str, key: str, duration: int, connections: int, run: str, script="post.lua") -> dict:
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
            str(ROOT / "bench" / script),
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
    create_schema(f"{PG}/{GATEWAY_DB}")  # the floor's tables (bench/bare_app.py)
    baseline_env = dict(env, BASELINE_DSN=f"{PG}/{BASELINE_DB}")
    subprocess.run(
        [PY, "-c", "import bench.baseline_app as b; b.create_schema()"], cwd=ROOT, env=baseline_env, check=True
    )

    results = {}
    get_pairs: list[float] = []
    # The baseline (one transaction), then the same writes in the gateway's three (BASELINE_STEPS).
    for name, steps in (("baseline", "1"), ("baseline, 3 transactions", "3")):
        proc, url = start_gunicorn(
            "bench.baseline_app:application", dict(baseline_env, BASELINE_STEPS=steps), args.workers
        )
        try:
            results[name] = posts_measured(wrk, url, keys, args, f"{run}-baseline{steps}", proc, BASELINE_DB)
        finally:
            stop(proc)
    bouncer, bouncer_port, bouncer_dirs = start_pgbouncer(pool_size=args.workers)
    pooled_env = dict(
        env, DATABASE_URL=f"postgres://postgres@127.0.0.1:{bouncer_port}/{GATEWAY_DB}", DB_TRANSACTION_POOLING="1"
    )
    # (name, gunicorn options, workers, environment, also measure the GETs under it)
    gunicorns = (
        (f"gateway ({args.workers} sync)", (), args.workers, env, True),
        ("gateway (3 gthread x4)", ("--worker-class", "gthread", "--threads", "4"), 3, env, False),
        (f"gateway ({args.workers} sync) PgBouncer", (), args.workers, pooled_env, False),
    )
    try:
        run_gateways(wrk, run, args, keys, gunicorns, results, get_pairs)
    finally:
        os.killpg(bouncer.pid, signal.SIGTERM)  # runuser and PgBouncer (its own process group)
        bouncer.wait(timeout=20)
        for directory in bouncer_dirs:
            shutil.rmtree(directory, ignore_errors=True)

    print(
        f"\n{'target':<32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8}"
        f" {'CPU ms/req':>10} {'xacts/req':>9} {'non-2xx':>8}   CPU ms/req of: PostgreSQL, Redis, machine"
    )
    for name, stats in results.items():
        print(
            f"{name:<32} {stats['rps']:>9.1f} {stats['p50_us'] / 1000:>8.2f} {stats['p99_us'] / 1000:>8.2f}"
            f" {stats['p99_us'] / max(stats['p50_us'], 1):>8.1f} {stats['cpu_ms']:>10.2f} {stats['xacts']:>9.2f}"
            f" {stats['non2xx'] + stats['socket_errors']:>8}"
            f"   {stats['pg_ms']:>6.2f} {stats['redis_ms']:>6.2f} {stats['all_ms']:>6.2f}"
        )
    sync, baseline = results[gunicorns[0][0]], results["baseline"]
    print(f"\ncreate+confirm ratio gateway/baseline: {sync['rps'] / baseline['rps']:.2f} (target >= 0.20)")
    print(
        f"  machine CPU per request: baseline {baseline['all_ms']:.2f} ms, gateway {sync['all_ms']:.2f} ms"
        f" (of it: workers {sync['cpu_ms']:.2f}, PostgreSQL {sync['pg_ms']:.2f}, Redis {sync['redis_ms']:.2f});"
        f" 0.20x needs the gateway's at most {baseline['all_ms'] / 0.2:.2f} ms"
    )
    three = results["baseline, 3 transactions"]
    print(
        f"  the baseline in the gateway's three transactions: {three['rps'] / baseline['rps']:.2f}x the baseline"
        f" (machine {three['all_ms']:.2f} ms, PostgreSQL {three['pg_ms']:.2f} ms per request);"
        f" the gateway is {sync['rps'] / three['rps']:.2f}x of it"
    )
    floor = results[FLOOR]
    print(
        f"  the floor (the gateway's Django stack around the same three transactions, bench/bare_app.py):"
        f" {floor['rps'] / baseline['rps']:.2f}x the baseline (machine {floor['all_ms']:.2f} ms per request);"
        f" the gateway is {sync['rps'] / floor['rps']:.2f}x of it; at 0.20x the payment logic would have"
        f" {baseline['all_ms'] / 0.2 - floor['all_ms']:.2f} ms of machine CPU, it takes"
        f" {sync['all_ms'] - floor['all_ms']:.2f} ms"
    )
    print(f"  through PgBouncer (transaction pooling) / direct: {results[gunicorns[2][0]]['rps'] / sync['rps']:.2f}")
    print(f"  gthread (3 x 4 threads) / sync: {results[gunicorns[1][0]]['rps'] / sync['rps']:.2f}")
    print(
        f"GET payment (cache hit) / bare Django view: "
        f"{statistics.median(get_pairs):.2f} median of {len(get_pairs)} alternating {PAIR_SECONDS} s pairs"
        f" ({min(get_pairs):.2f}-{max(get_pairs):.2f}; the two {args.duration} s runs above:"
        f" {results['GET payment (cache hit)']['rps'] / results['bare Django view']['rps']:.2f}) (target >= 0.80)"
    )
    print("(transactions per request include the sandbox processor's own book write: 1 per create+confirm)")
    if any(stats["non2xx"] or stats["socket_errors"] for stats in results.values()):
        print("WARNING: a target answered non-2xx or dropped connections during the run")
    print("\nstatements per create+confirm (bench/cost.py, in-process, 50 payments):")
    cost = subprocess.run(
        [PY, str(ROOT / "bench" / "cost.py"), "--payments", "50"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    print("\n".join(line for line in cost.stdout.splitlines() if "per payment" in line or line.startswith("  ")))
    return 0


def start_pgbouncer(*, pool_size: int) -> tuple[subprocess.Popen, int, list[Path]]:
    """PgBouncer in transaction pooling mode in front of the bench's PostgreSQL, configured from
    the same template as the production stack (deploy/pgbouncer.ini.template); the directories
    to remove after it (as root its files are in a directory of their own)."""
    from deploy.stack import pgbouncer_prepare

    port = free_port()
    run_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    directory, command = pgbouncer_prepare(run_dir, port, pool_size)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, [run_dir, directory]
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"PgBouncer did not start (config in {directory})")


def posts_measured(
    wrk: str,
    url: str,
    keys: dict,
    args,
    label: str,
    proc: subprocess.Popen,
    database: str,
    path: str = "/v1/payments",
) -> dict:
    """create+confirm POSTs against the server ``proc`` after a 3 s warm-up, measured as ``measured`` does."""
    run_wrk(wrk, url + path, keys["secret_key"], 3, args.connections, f"{label}-warm")
    return measured(
        wrk,
        url + path,
        keys["secret_key"],
        args.duration,
        args.connections,
        label,
        master=proc.pid,
        database=database,
    )


def run_gateways(wrk: str, run: str, args, keys: dict, gunicorns, results: dict, get_pairs: list[float]) -> None:
    for name, extra, workers, env, with_gets in gunicorns:
        proc, url = start_gunicorn("bench.bare_app:application", env, workers, extra)
        try:
            results[name] = posts_measured(wrk, url, keys, args, f"{run}-{name}", proc, GATEWAY_DB)
            if not with_gets:
                continue
            results[FLOOR] = posts_measured(wrk, url, keys, args, f"{run}-floor", proc, GATEWAY_DB, "/bench/floor")
            payment_id = payment_created(url, keys["secret_key"])
            for label, path in (
                ("GET payment (cache hit)", f"/v1/payments/{payment_id}"),
                ("bare Django view", "/bench/bare"),
            ):
                run_wrk(wrk, url + path, keys["secret_key"], 2, args.connections, f"{run}-warm", script="get.lua")
                results[label] = measured(
                    wrk,
                    url + path,
                    keys["secret_key"],
                    args.duration,
                    args.connections,
                    f"{run}-{label}",
                    master=proc.pid,
                    script="get.lua",
                )
            # Then short runs of the two in alternation: this VM's speed drifts by tens of percent
            # from one 15 s run to the next, which a single pair would read as the ratio.
            for index in range(GET_PAIRS):
                get, bare = (
                    run_wrk(wrk, url + path, keys["secret_key"], PAIR_SECONDS, args.connections,
                            f"{run}-pair{index}", script="get.lua")
                    for path in (f"/v1/payments/{payment_id}", "/bench/bare")
                )  # fmt: skip
                get_pairs.append(get["rps"] / bare["rps"])
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def payment_created(url: str, key: str) -> str:
    request = urllib.request.Request(
        url + "/v1/payments",
        data=json.dumps(CARD_BODY).encode(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": secrets.token_hex(8),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["id"]


if __name__ == "__main__":
    raise SystemExit(main())
