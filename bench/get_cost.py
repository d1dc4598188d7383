"""The cost of ``GET /v1/payments/{id}`` on a cache hit against the bare Django view of
bench/bare_app.py, in-process under the production settings on PostgreSQL and Redis: application
CPU per request (``time.process_time``), SQL statements and Redis round trips per request.

Usage: .venv/bin/python bench/get_cost.py [--requests 3000] [--profile]

No HTTP server: each request is one call of the WSGI application with a prepared environ (what
gunicorn does per request, minus parsing the HTTP), so the CPU figure is middleware, view and
drivers. The targets alternate in rounds so a busy machine distorts them alike; the ratio of CPU
per request is what bench/run.py's throughput ratio follows when the workers are CPU-bound.
Loopback only; bounded by --requests.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.cost import CARD_BODY, configure  # noqa: E402


class RedisRoundTrips:
    """Counts the round trips to Redis: every one sends one packed command (a command, a pipeline,
    a script), through the client or on a connection of its own (gateway.fastread)."""

    def __init__(self):
        import redis.connection

        self.count = 0
        counter = self
        original = redis.connection.AbstractConnection.send_packed_command

        def send_packed_command(self, *args, **kwargs):
            counter.count += 1
            return original(self, *args, **kwargs)

        redis.connection.AbstractConnection.send_packed_command = send_packed_command


def environ(path: str, key: str) -> dict:
    """What gunicorn hands the application for ``GET path`` (wsgi.input empty)."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


FAST = "GET payment (cache hit)"
DRF = "GET payment (cache hit), DRF view"
BARE = "bare Django view"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="per target")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="gateway_bench_get")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--profile", action="store_true", help="print where the GET's CPU goes (cProfile)")
    args = parser.parse_args()
    configure(database=args.database, redis_url=args.redis, broker_url=args.redis)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench.bare_app import application
    from merchants.services import merchant_create

    call_command("migrate", verbosity=0)
    key = merchant_create(name="Get cost").secret_key.raw_key
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    created = client.post("/v1/payments", CARD_BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="get-cost")
    assert created.status_code == 201, created.content
    payment_id = created.json()["id"]
    # name -> (path, answered by gateway.fastread when it can)
    targets = {
        FAST: (f"/v1/payments/{payment_id}", True),
        DRF: (f"/v1/payments/{payment_id}", False),
        BARE: ("/bench/bare", True),
    }
    statements: list[str] = []
    connection.execute_wrappers.append(lambda execute, sql, *rest: statements.append(sql) or execute(sql, *rest))
    redis_trips = RedisRoundTrips()

    def call(path: str) -> bytes:
        status = []
        body = b"".join(application(environ(path, key), lambda s, h, *a: status.append(s)))
        assert status[0].startswith("200"), (status, body)
        return body

    for path, fast in targets.values():  # warm-up: imports, caches, connections
        settings.FAST_READS_ENABLED = fast
        for _ in range(200):
            call(path)
    assert json.loads(call(targets[FAST][0]))["id"] == payment_id
    cpu = dict.fromkeys(targets, 0.0)
    trips = dict.fromkeys(targets, 0)
    sql = dict.fromkeys(targets, 0)
    per_round = max(1, args.requests // args.rounds)
    for _ in range(args.rounds):
        for name, (path, fast) in targets.items():
            settings.FAST_READS_ENABLED = fast
            statements.clear()
            redis_trips.count = 0
            started = time.process_time()
            for _ in range(per_round):
                call(path)
            cpu[name] += time.process_time() - started
            trips[name] += redis_trips.count
            sql[name] += len(statements)
    n = per_round * args.rounds
    print(f"in-process, production settings, {n} requests per target in {args.rounds} alternating rounds")
    print(f"{'target':<34} {'CPU ms/req':>10} {'Redis trips/req':>16} {'SQL/req':>8}")
    for name in targets:
        print(f"{name:<34} {cpu[name] * 1000 / n:>10.3f} {trips[name] / n:>16.2f} {sql[name] / n:>8.2f}")
    print(f"CPU ratio bare/GET: {cpu[BARE] / cpu[FAST]:.2f}; through the DRF view: {cpu[BARE] / cpu[DRF]:.2f}")
    if args.profile:
        settings.FAST_READS_ENABLED = True
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(per_round):
            call(targets[FAST][0])
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("GET_COST_SORT", "cumulative")).print_stats(45)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
