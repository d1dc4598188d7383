"""Cost as work grows: create+confirm throughput and ``GET /v1/payments?limit=100`` (newest first,
with and without a ``starting_after`` cursor deep in the list) on an empty database, then again
after seeding 1,000,000 payments with their attempts, events and ledger entries and lines.

Usage: .venv/bin/python bench/growth.py [--payments 1000000] [--requests 150]   (make bench-growth)

In-process (Django's test client, production settings) on its own database ``gateway_bench_growth``
and Redis dbs 9/10, like bench/cost.py. The seed is SQL (INSERT ... SELECT generate_series copying
one real payment's rows, triggers off for the copy, as a restore would), so it takes a few minutes
at most; every phase is bounded by its request count. Prints the EXPLAIN of the list queries: the
indexes that keep them flat. Loopback only.
"""

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # same configuration as bench/cost.py: production settings, own database

cost.DATABASE = "gateway_bench_growth"


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=150)
    args = parser.parse_args()
    cost.configure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from merchants.services import merchant_create

    call_command("migrate", verbosity=0)
    created = merchant_create(name="Growth")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {created.secret_key.raw_key}")

    def pay() -> str:
        response = client.post(
            "/v1/payments", cost.CARD_BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def measure(label: str, deep_cursor: str | None) -> dict[str, float]:
        made = [pay() for _ in range(20)]  # warm-up
        start = time.perf_counter()
        made += [pay() for _ in range(args.requests)]
        rate = args.requests / (time.perf_counter() - start)
        figures = {"create+confirm/s": rate}
        if deep_cursor is None:
            # The empty database's cursor: a payment with at least 100 older ones (the one template
            # payment and those made above), so both databases serialize full pages of 100.
            deep_cursor = made[min(110, len(made) - 1)]
        for name, query in (("list p99 ms", ""), ("list deep-cursor p99 ms", f"&starting_after={deep_cursor}")):
            times = []
            for _ in range(args.requests):
                begin = time.perf_counter()
                response = client.get(f"/v1/payments?limit=100{query}")
                times.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, response.content
            figures[name] = percentile(times, 99)
        print(f"{label}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()), flush=True)
        return figures

    template = pay()
    empty = measure("empty database", None)
    seed_start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '600s'")
        seed(cursor, payment_id=template, count=args.payments)
        cursor.execute("ANALYZE")
    print(f"seeded {args.payments} payments in {time.perf_counter() - seed_start:.0f} s", flush=True)
    deep = f"pay_00{args.payments // 2:010d}"
    grown = measure(f"{args.payments} payments", deep)
    print("\nratio grown/empty: " + ", ".join(f"{k} {grown[k] / empty[k]:.2f}" for k in empty))
    print("targets: create+confirm within 10 % (ratio >= 0.90); list p99 within 2x (ratio <= 2.0)")
    with connection.cursor() as cursor:
        for cursor_filter in ("", f" AND id < '{deep}'"):
            cursor.execute(
                "EXPLAIN SELECT * FROM payments_payment WHERE merchant_id = %s AND NOT livemode"
                f"{cursor_filter} ORDER BY id DESC LIMIT 101",
                [created.merchant.id],
            )
            print("\n".join(row[0] for row in cursor.fetchall()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
