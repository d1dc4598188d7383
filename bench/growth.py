"""Cost as work grows: create+confirm throughput and ``GET /v1/payments?limit=100`` (newest first,
with and without a ``starting_after`` cursor deep in the list) in a database seeded with 1,000,000
payments (their attempts, events and ledger entries and lines) against an empty one, measured in
alternate rounds so that the machine's drift falls on both alike.

Usage: .venv/bin/python bench/growth.py [--payments 1000000] [--requests 150]   (make bench-growth)

In-process (Django's test client, production settings) on its own databases
``gateway_bench_growth`` (grown) and ``gateway_bench_growth_empty``, and Redis dbs 9/10, like
bench/cost.py. The seed is SQL (INSERT ... SELECT generate_series copying one real payment's rows,
triggers off for the copy, as a restore would), so it takes a few minutes at most; every phase is
bounded by its request count. Prints the EXPLAIN of the list queries: the indexes that keep them
flat. Loopback only.
"""

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # same configuration as bench/cost.py: production settings, own database

GROWN = "gateway_bench_growth"
EMPTY = "gateway_bench_growth_empty"  # the reference, measured in alternate rounds

ROUNDS = 5


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seed(cursor, *, payment_id: str, count: int) -> None:
    """``count`` copies of one real payment's rows (payment, attempt, events, ledger entry and
    lines), older than it (their ids sort below every real id), in one transaction."""

    def copy(table: str, where: str, overrides: dict[str, str]) -> None:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        columns = [row[0] for row in cursor.fetchall()]
        select = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
        names = ", ".join(f'"{c}"' for c in columns if c != "id" or "id" in overrides)
        if "id" not in overrides:  # a serial id: let the sequence number the copies
            select = ", ".join(overrides.get(c, f't."{c}"') for c in columns if c != "id")
        cursor.execute(
            f'INSERT INTO "{table}" ({names}) SELECT {select} FROM "{table}" t, generate_series(1, %s) g WHERE {where}',
            [count, payment_id],
        )

    seq = "lpad(g::text, 10, '0')"
    age = "(g || ' seconds')::interval"
    cursor.execute("SET session_replication_role = replica")  # no triggers for the copy (a restore)
    copy(
        "payments_payment",
        "t.id = %s",
        {"id": f"'pay_00' || {seq}", "created": f"t.created - {age}", "updated": f"t.updated - {age}"},
    )
    copy(
        "payments_paymentattempt",
        "t.payment_id = %s",
        {"id": f"'att_00' || {seq}", "payment_id": f"'pay_00' || {seq}", "created": f"t.created - {age}"},
    )
    copy("events_event", "t.data->>'id' = %s", {"id": f"'evt_00' || {seq} || substr(t.id, 5, 4)"})
    copy(
        "ledger_journal_entry",
        "t.payment_id = %s",
        {"id": f"'je_00' || {seq}", "payment_id": f"'pay_00' || {seq}", "operation_ref": f"'att_00' || {seq}"},
    )
    copy(
        "ledger_journal_line",
        "t.entry_id IN (SELECT id FROM ledger_journal_entry WHERE payment_id = %s)",
        {"entry_id": f"'je_00' || {seq}"},
    )
    cursor.execute("SET session_replication_role = DEFAULT")


@dataclass
class Target:
    """One database of the comparison, with its own merchant and API key."""

    label: str
    database: str
    client: object = None
    merchant_id: str = ""
    deep_cursor: str = ""
    rates: list[float] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=dict)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=150)
    args = parser.parse_args()
    cost.configure(database=GROWN)
    cost.recreate_database(EMPTY)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from merchants.services import merchant_create

    grown = Target(f"{args.payments} payments", GROWN)
    empty = Target("empty database", EMPTY)

    def use(target: Target) -> None:
        # One process, two databases: the default connection is pointed at the other one.
        connection.close()
        connection.settings_dict["NAME"] = target.database

    def pay(target: Target) -> str:
        response = target.client.post(
            "/v1/payments", cost.CARD_BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    for target in (grown, empty):
        use(target)
        call_command("migrate", verbosity=0)
        created = merchant_create(name="Growth")
        target.client = Client(HTTP_AUTHORIZATION=f"Bearer {created.secret_key.raw_key}")
        target.merchant_id = created.merchant.id
        # The empty database's deep cursor: a payment with 110 older ones, so both databases
        # serialize full pages of 100 after it.
        made = [pay(target) for _ in range(130)]
        target.deep_cursor = made[110]
    use(grown)
    template = pay(grown)
    seed_start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '600s'")
        seed(cursor, payment_id=template, count=args.payments)
    print(f"seeded {args.payments} payments in {time.perf_counter() - seed_start:.0f} s", flush=True)
    settle_start = time.perf_counter()
    with connection.cursor() as cursor:
        # A database that grew to this size over months has been vacuumed and checkpointed many
        # times; one written a moment ago has not: autovacuum (inserts trigger it) and the
        # checkpoint of 6 M fresh rows would run during the measurement and count as its size.
        cursor.execute("VACUUM (FREEZE, ANALYZE)")
        cursor.execute("CHECKPOINT")
    print(f"vacuumed and checkpointed in {time.perf_counter() - settle_start:.0f} s", flush=True)
    grown.deep_cursor = f"pay_00{args.payments // 2:010d}"

    # Rounds alternate between the two databases: this VM's speed drifts by tens of percent within
    # minutes (docs/performance.md), which a before/after pair would count as the data's size.
    lists = (("list p99 ms", ""), ("list deep-cursor p99 ms", "&starting_after={cursor}"))
    for _ in range(ROUNDS):
        for target in (grown, empty):
            use(target)
            for _ in range(10):  # warm the connection and the process's caches
                pay(target)
            start = time.perf_counter()
            for _ in range(args.requests):
                pay(target)
            target.rates.append(args.requests / (time.perf_counter() - start))
            for name, query in lists:
                url = f"/v1/payments?limit=100{query.format(cursor=target.deep_cursor)}"
                for _ in range(args.requests):
                    begin = time.perf_counter()
                    response = target.client.get(url)
                    target.times.setdefault(name, []).append((time.perf_counter() - begin) * 1000)
                    assert response.status_code == 200 and len(response.json()["data"]) == 100, response.content

    figures = {}
    for target in (empty, grown):
        figures[target.label] = {"create+confirm/s": statistics.median(target.rates)} | {
            name: percentile(times, 99) for name, times in target.times.items()
        }
        rounds = ", ".join(f"{rate:.1f}" for rate in target.rates)
        print(
            f"{target.label}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures[target.label].items()),
            f"(create+confirm/s by round: {rounds})",
            flush=True,
        )
    print(
        "\nratio grown/empty: "
        + ", ".join(f"{k} {figures[grown.label][k] / figures[empty.label][k]:.2f}" for k in figures[empty.label])
    )
    print("targets: create+confirm within 10 % (ratio >= 0.90); list p99 within 2x (ratio <= 2.0)")
    use(grown)
    with connection.cursor() as cursor:
        for cursor_filter in ("", f" AND id < '{grown.deep_cursor}'"):
            cursor.execute(
                "EXPLAIN SELECT * FROM payments_payment WHERE merchant_id = %s AND NOT livemode"
                f"{cursor_filter} ORDER BY id DESC LIMIT 101",
                [grown.merchant_id],
            )
            print("\n".join(row[0] for row in cursor.fetchall()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
