"""Scale-out benchmark: create+confirm over the production stack with 1, 2 and 3 instances.

Usage: make bench-scale   (or: .venv/bin/python bench/scale.py [--instances 1,2,3] [--duration 15])

For each instance count it starts deploy/stack.py (nginx with TLS and round robin, gunicorn
instances with the production settings and venv, PgBouncer in transaction mode, PostgreSQL,
Redis, a Celery worker and beat), drives the balancer with wrk (unique Idempotency-Key per request,
card 4242, automatic capture) and reads, from /proc, the CPU seconds every process spent: the
gateway instances, PostgreSQL's backends, PgBouncer, nginx, Redis, the worker and wrk itself.

Prints throughput and p50/p99 per instance count with the ratio to one instance, the CPU
milliseconds per request of each component, and which component bounds the throughput. Loopback
only; every run is bounded by --duration.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import CARD_BODY, ensure_wrk  # noqa: E402
from deploy.stack import Stack, StackConfig  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat (11-14 after the command name)
    return sum(int(value) for value in fields[11:15]) / TICKS


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_pids(stack: Stack) -> list[int]:
    """The backends serving this stack's database and PostgreSQL's own background processes, not the
    backends of anyone else sharing the server."""
    import psycopg

    with psycopg.connect(stack.database_url(direct=True), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() AND pid <> pg_backend_pid())"
            " OR backend_type NOT IN ('client backend', 'autovacuum worker')"
        ).fetchall()
    return [pid for (pid,) in rows]


def components(stack: Stack) -> dict[str, list[int]]:
    groups = {
        "gateway instances": [pid for name in stack.instance_names for pid in stack.pids(name)],
        "PostgreSQL": postgres_pids(stack),
        "Redis": pids_named("redis-server"),
        "nginx": stack.pids("nginx"),
        "Celery worker+beat": stack.pids("worker") + stack.pids("beat"),
    }
    if "pgbouncer" in stack.processes:
        groups["PgBouncer"] = pids_named("pgbouncer")
    return groups


def snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def run_wrk(wrk: str, url: str, key: str, duration: int, connections: int, run: str) -> dict:
    env = dict(os.environ, BENCH_BODY=json.dumps(CARD_BODY), BENCH_KEY=key, BENCH_RUN=run)
    started = time.monotonic()
    before = os.times()
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
    after = os.times()
    line = next(line for line in out.splitlines() if line.startswith("JSON "))
    stats = json.loads(line[5:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["wall"] = time.monotonic() - started
    stats["wrk_cpu"] = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return stats


def database_counters(stack: Stack) -> dict[str, int]:
    import psycopg
    import redis

    with psycopg.connect(stack.database_url(direct=True), autocommit=True) as conn:
        wal, transactions = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, xact_commit + xact_rollback "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    commands = redis.Redis.from_url(stack.config.redis_url).info("stats")["total_commands_processed"]
    return {"wal_bytes": int(wal), "transactions": int(transactions), "redis_commands": int(commands)}


def measure(instances: int, args, wrk: str) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"gateway-bench-scale-{instances}-"))
    run = uuid.uuid4().hex[:8]
    config = StackConfig(
        run_dir=run_dir,
        instances=instances,
        gunicorn_workers=args.workers,
        gunicorn_threads=args.threads,
        database=f"bench_scale_{run}",
        recreate_database=True,
        cache_prefix=f"bsc{run}",
        queue=f"bench-scale-{run}",
        pgbouncer=not args.no_pgbouncer,
        extra_env={"RATE_LIMIT_BURST": "1000000", "RATE_LIMIT_PER_SECOND": "1000000", "LOG_LEVEL": "WARNING"},
    )
    stack = Stack(config)
    stack.up()
    try:
        keys = json.loads(stack.manage("create_merchant", "--name", "Bench", "--json").stdout)
        url = f"{stack.url}/v1/payments"
        run_wrk(wrk, url, keys["secret_key"], 3, args.connections, f"{run}-warm")
        groups = components(stack)
        before = snapshot(groups)
        database = database_counters(stack)
        stats = run_wrk(wrk, url, keys["secret_key"], args.duration, args.connections, run)
        after = snapshot(groups)
        time.sleep(1.5)  # PostgreSQL publishes a backend's transaction counts at most once a second
        database_after = database_counters(stack)
        stats.update({name: database_after[name] - database[name] for name in database})
    finally:
        stack.down()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f'DROP DATABASE IF EXISTS "bench_scale_{run}" WITH (FORCE)',
            ],
            check=False,
        )
        shutil.rmtree(run_dir, ignore_errors=True)
    requests = stats["requests"] or 1
    stats["cpu_ms_per_request"] = {name: (after[name] - before[name]) * 1000 / requests for name in groups}
    stats["cpu_ms_per_request"]["wrk (load generator)"] = stats["wrk_cpu"] * 1000 / requests
    stats["machine_cpu_used"] = sum(after[name] - before[name] for name in groups) + stats["wrk_cpu"]
    return stats


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", default="1,2,3", help="comma-separated instance counts")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--no-pgbouncer", action="store_true", help="instances straight to PostgreSQL")
    args = parser.parse_args()
    wrk = ensure_wrk()
    counts = [int(n) for n in args.instances.split(",")]
    results = {n: measure(n, args, wrk) for n in counts}

    first = results[counts[0]]
    print(
        f"\ncreate+confirm over nginx (TLS) -> N instances x {args.workers} workers x {args.threads} threads"
        f" -> {'PostgreSQL' if args.no_pgbouncer else 'PgBouncer -> PostgreSQL'}; {args.connections} connections,"
        f" {args.duration} s, {CORES} cores"
    )
    print(f"{'instances':>9} {'req/s':>8} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU used':>9}")
    for n, stats in results.items():
        used = stats["machine_cpu_used"] / (stats["duration_us"] / 1e6) / CORES
        print(
            f"{n:>9} {stats['rps']:>8.1f} {stats['rps'] / first['rps']:>6.2f} {stats['p50_us'] / 1000:>8.1f}"
            f" {stats['p99_us'] / 1000:>8.1f} {stats['non2xx'] + stats['socket_errors']:>8} {used:>8.0%}"
        )
    print(f"\n{'per request':<22}" + "".join(f"{f'{n} inst':>10}" for n in counts))
    for label, name in (
        ("transactions", "transactions"),
        ("Redis commands", "redis_commands"),
        ("WAL bytes written", "wal_bytes"),
    ):
        print(f"{label:<22}" + "".join(f"{results[n][name] / max(1, results[n]['requests']):>10.1f}" for n in counts))
    print("\nCPU ms per request, by process:")
    names = list(first["cpu_ms_per_request"])
    print(f"{'component':<22}" + "".join(f"{f'{n} inst':>10}" for n in counts))
    for name in names:
        print(f"{name:<22}" + "".join(f"{results[n]['cpu_ms_per_request'][name]:>10.2f}" for n in counts))
    total = {n: sum(results[n]["cpu_ms_per_request"].values()) for n in counts}
    print(f"{'total':<22}" + "".join(f"{total[n]:>10.2f}" for n in counts))
    last = results[counts[-1]]
    bound = max((name for name in names if "wrk" not in name), key=lambda name: last["cpu_ms_per_request"][name])
    ceiling = CORES * 1000 / total[counts[-1]]
    print(
        f"\nbound: {bound} spends {last['cpu_ms_per_request'][bound]:.1f} of {total[counts[-1]]:.1f}"
        " CPU ms per request;"
        f" with every process on {CORES} cores the machine tops out near {ceiling:.0f} req/s"
        f" (measured {last['rps']:.0f}): more instances add throughput only with more cores."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
