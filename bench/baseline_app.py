"""Baseline for the payments benchmark: a minimal WSGI app doing the same kind of work as
create+confirm in one raw-SQL transaction (about five writes), with no framework at all.
Served by the same gunicorn settings as the gateway so the ratio measures our own overhead.

``BASELINE_STEPS=3``: the same writes in the three transactions the gateway's guarantees ask for
(issue 14: claim the key and commit the payment and its attempt before the processor is called;
the processor's own book, which the sandbox writes; then the result, the event and the stored
response), each commit durable. It prices that structure in raw SQL: what no framework change
can take back. ``bench/bare_app.py`` runs the same three transactions inside the gateway's Django
stack (the floor).
"""

import json
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager

import psycopg

_conn: psycopg.Connection | None = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS bl_idempotency (merchant text, key text, status int, body text, PRIMARY KEY (merchant, key));
CREATE TABLE IF NOT EXISTS bl_payment (id text PRIMARY KEY, merchant text, amount bigint, currency text, status text,
                                       created timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS bl_attempt (id text PRIMARY KEY, payment_id text, status text,
                                       created timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS bl_event (id text PRIMARY KEY, payment_id text, type text, data jsonb);
CREATE TABLE IF NOT EXISTS bl_charge (id text PRIMARY KEY, amount bigint, currency text,
                                      created timestamptz DEFAULT now());
"""

# A transaction: a context manager giving something with ``execute(sql, params)`` (a psycopg
# connection, a Django cursor), committed when it exits.
Transaction = Callable[[], AbstractContextManager]


def _connection() -> psycopg.Connection:
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(os.environ["BASELINE_DSN"])
    return _conn


@contextmanager
def _psycopg_transaction():
    conn = _connection()
    with conn.transaction():
        yield conn


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    key = environ.get("HTTP_IDEMPOTENCY_KEY") or uuid.uuid4().hex
    out = create_confirm(
        _psycopg_transaction,
        key=key,
        amount=body.get("amount", 0),
        currency=body.get("currency", "usd"),
        steps=int(os.environ.get("BASELINE_STEPS", "1")),
    )
    payload = json.dumps(out).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def create_confirm(transaction: Transaction, *, key: str, amount: int, currency: str, steps: int) -> dict:
    """The baseline's writes of one create+confirm in ``steps`` (1 or 3) transactions; the answer."""
    payment_id, attempt_id = "pay_" + uuid.uuid4().hex, "att_" + uuid.uuid4().hex
    out = {"id": payment_id, "status": "succeeded", "amount": amount}
    if steps == 3:
        with transaction() as conn:  # the key claimed with the payment and its attempt, committed
            _claim(conn, key, payment_id, attempt_id, amount, currency, attempt_status="processing")
        with transaction() as conn:  # the processor's book
            conn.execute(
                "INSERT INTO bl_charge (id, amount, currency) VALUES (%s, %s, %s)",
                ("ch_" + uuid.uuid4().hex, amount, currency),
            )
        with transaction() as conn:  # the result, the event, the stored response
            conn.execute("UPDATE bl_attempt SET status = 'succeeded' WHERE id = %s", (attempt_id,))
            _finish(conn, payment_id, key, out)
    else:
        with transaction() as conn:
            _claim(conn, key, payment_id, attempt_id, amount, currency, attempt_status="succeeded")
            _finish(conn, payment_id, key, out)
    return out


def _claim(
    conn, key: str, payment_id: str, attempt_id: str, amount: int, currency: str, *, attempt_status: str
) -> None:
    conn.execute("INSERT INTO bl_idempotency (merchant, key) VALUES ('m', %s)", (key,))
    conn.execute(
        "INSERT INTO bl_payment (id, merchant, amount, currency, status) VALUES (%s, 'm', %s, %s, 'processing')",
        (payment_id, amount, currency),
    )
    conn.execute(
        "INSERT INTO bl_attempt (id, payment_id, status) VALUES (%s, %s, %s)", (attempt_id, payment_id, attempt_status)
    )


def _finish(conn, payment_id: str, key: str, out: dict) -> None:
    conn.execute("UPDATE bl_payment SET status = 'succeeded' WHERE id = %s", (payment_id,))
    conn.execute(
        "INSERT INTO bl_event (id, payment_id, type, data) VALUES (%s, %s, 'payment.succeeded', %s)",
        ("evt_" + uuid.uuid4().hex, payment_id, json.dumps(out)),
    )
    conn.execute(
        "UPDATE bl_idempotency SET status = 201, body = %s WHERE merchant = 'm' AND key = %s", (json.dumps(out), key)
    )


def create_schema(dsn: str | None = None) -> None:
    with psycopg.connect(dsn or os.environ["BASELINE_DSN"], autocommit=True) as conn:
        conn.execute(SCHEMA)
