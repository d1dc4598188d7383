"""The cost of one create+confirm (card 4242, automatic capture, unique Idempotency-Key), measured
in-process under the production settings on PostgreSQL and Redis: application CPU, SQL statements,
transactions, Redis commands, WAL bytes and table bytes written per payment.

Usage: .venv/bin/python bench/cost.py [--payments 300]   (make bench-cost)

No HTTP server: Django's test client calls the WSGI stack directly, so the CPU figure is the
application's own (middleware, views, services, ORM, drivers), without gunicorn or the network.
Loopback only; bounded by --payments.
"""

import argparse
import os
import secrets
import sys
import time
import uuid
from base64 import urlsafe_b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "gateway_bench_cost"
CARD_BODY = {
    "amount": 1999,
    "currency": "usd",
    "confirm": True,
    "payment_method": {
        "type": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    },
}


def recreate_database(name: str) -> None:
    """A new, empty database ``name`` on the local cluster (dropped first, whoever is connected)."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def processes_cpu_seconds(comm: str) -> float:
    """utime + stime of every process named ``comm`` (PostgreSQL's backends, Redis), with the CPU of
    their children already reaped (a PostgreSQL backend that ended is counted in the postmaster's)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if head.split("(", 1)[1] == comm:
            fields = tail.split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def configure(
    *,
    database: str = DATABASE,
    redis_url: str = "redis://127.0.0.1:6379/9",
    broker_url: str = "redis://127.0.0.1:6379/10",
) -> None:
    """Production settings on a new, empty ``database`` (dropped first) and a fresh key prefix in Redis."""
    recreate_database(database)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL=f"{PG}/{database}",
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=broker_url,
        CACHE_KEY_PREFIX=f"cost{uuid.uuid4().hex[:6]}",
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        RATE_LIMIT_BURST="1000000",
        RATE_LIMIT_PER_SECOND="1000000",
        ENCRYPTION_KEYS="cost1:" + urlsafe_b64encode(os.urandom(32)).decode(),
        HMAC_KEY=urlsafe_b64encode(os.urandom(32)).decode(),
        LOG_LEVEL="WARNING",
    )


class RedisCounter:
    """Counts the Redis commands the process sends (single commands and pipelined ones)."""

    def __init__(self):
        import redis.client

        self.count = 0
        counter = self
        original_command = redis.client.Redis.execute_command
        original_pipeline = redis.client.Pipeline.execute

        def execute_command(self, *args, **kwargs):
            counter.count += 1
            return original_command(self, *args, **kwargs)

        def execute(self, *args, **kwargs):
            counter.count += len(self.command_stack)
            return original_pipeline(self, *args, **kwargs)

        redis.client.Redis.execute_command = execute_command
        redis.client.Pipeline.execute = execute


def table_bytes(cursor) -> int:
    cursor.execute(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r'"
        " AND c.relnamespace = 'public'::regnamespace"
    )
    return int(cursor.fetchone()[0])


def counters(cursor) -> tuple[int, int]:
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
    wal = int(cursor.fetchone()[0])
    time.sleep(0.05)
    cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    return wal, int(cursor.fetchone()[0])


def _is_sandbox(sql: str) -> bool:
    # The in-process sandbox plays the processor: its book write is outside the gateway's transactions.
    return '"sandbox_' in sql


def _track_blocks(connection) -> None:
    """Mark when a transaction block ends, so the next statement inside one counts a new block."""
    original_commit, original_rollback = connection.commit, connection.rollback

    def commit(*args, **kwargs):
        connection.gateway_bench_in_block = False
        return original_commit(*args, **kwargs)

    def rollback(*args, **kwargs):
        connection.gateway_bench_in_block = False
        return original_rollback(*args, **kwargs)

    connection.commit, connection.rollback = commit, rollback


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--show-sql", action="store_true", help="print the statements of one payment")
    args = parser.parse_args()
    configure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from merchants.services import merchant_create

    call_command("migrate", verbosity=0)
    created = merchant_create(name="Cost")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {created.secret_key.raw_key}")
    redis_counter = RedisCounter()
    # (sql, inside a transaction block): a statement outside one is its own (autocommit) transaction.
    statements: list[tuple[str, bool]] = []
    transactions = [0]  # transaction blocks (BEGIN ... COMMIT/ROLLBACK) the gateway opened

    def record(execute, sql, params, many, context):
        in_block = context["connection"].in_atomic_block
        if in_block and not context["connection"].gateway_bench_in_block:
            transactions[0] += 1
            context["connection"].gateway_bench_in_block = True
        statements.append((sql, in_block))
        return execute(sql, params, many, context)

    connection.gateway_bench_in_block = False
    connection.execute_wrappers.append(record)
    _track_blocks(connection)

    def pay() -> None:
        response = client.post(
            "/v1/payments", CARD_BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        assert response.status_code == 201 and response.json()["status"] == "succeeded", response.content

    for _ in range(30):  # warm-up: imports, caches, connections
        pay()
    with connection.cursor() as cursor:
        bytes_before = table_bytes(cursor)
        wal_before, xacts_before = counters(cursor)
    if args.show_sql:
        statements.clear()
        pay()
        for sql, in_block in statements:
            print(("  " if in_block else "* ") + sql[:160])
        print("(* : outside a transaction block, i.e. its own transaction)")
    statements.clear()
    transactions[0] = 0
    redis_counter.count = 0
    pg_before = processes_cpu_seconds("postgres")
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for _ in range(args.payments):
        pay()
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    pg_cpu = processes_cpu_seconds("postgres") - pg_before
    n_statements, n_redis = len(statements), redis_counter.count
    blocks = transactions[0]
    own_autocommit = sum(1 for sql, in_block in statements if not in_block and not _is_sandbox(sql))
    sandbox_autocommit = sum(1 for sql, in_block in statements if not in_block and _is_sandbox(sql))
    with connection.cursor() as cursor:
        wal_after, xacts_after = counters(cursor)
        bytes_after = table_bytes(cursor)
    n = args.payments
    measurement_xacts = 2  # the two counters() reads after the run are themselves transactions
    print(f"create+confirm (card 4242, automatic capture), {n} payments, production settings, in-process")
    print(f"{'application CPU per payment':<34} {cpu * 1000 / n:8.2f} ms   (wall {wall * 1000 / n:.2f} ms)")
    print(
        f"{'PostgreSQL CPU per payment':<34} {pg_cpu * 1000 / n:8.2f} ms   (every backend: run this on a quiet machine)"
    )
    print(f"{'SQL statements per payment':<34} {n_statements / n:8.2f}   (without BEGIN/COMMIT)")
    print(f"{'  with BEGIN and COMMIT':<34} {(n_statements + 2 * blocks) / n:8.2f}")
    print(
        f"{'transactions per payment':<34} {(xacts_after - xacts_before - measurement_xacts) / n:8.2f}   (PostgreSQL)"
    )
    print(f"{'  the gateway own':<34} {(blocks + own_autocommit) / n:8.2f}")
    print(f"{'  the sandbox processor (outside)':<34} {sandbox_autocommit / n:8.2f}")
    print(f"{'Redis commands per payment':<34} {n_redis / n:8.2f}")
    print(f"{'WAL bytes per payment':<34} {(wal_after - wal_before) / n:8.0f}")
    print(f"{'table + index bytes per payment':<34} {(bytes_after - bytes_before) / n:8.0f}")
    kinds: dict[str, int] = {}
    for sql, _ in statements:
        word = sql.split(None, 1)[0].upper()
        kinds[word] = kinds.get(word, 0) + 1
    print("statements by kind per payment: " + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
