"""Baseline for the payments benchmark: a minimal WSGI app doing the same kind of work as
create+confirm in one raw-SQL transaction (about five writes), with no framework at all.

Served by the same gunicorn settings as the gateway so the ratio measures our own overhead.
"""

import json
import os
import uuid

import psycopg

DSN = os.environ["BASELINE_DSN"]
_conn: psycopg.Connection | None = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS bl_idempotency (merchant text, key text, status int, body text, PRIMARY KEY (merchant, key));
CREATE TABLE IF NOT EXISTS bl_payment (id text PRIMARY KEY, merchant text, amount bigint, currency text, status text,
                                       created timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS bl_attempt (id text PRIMARY KEY, payment_id text, status text,
                                       created timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS bl_event (id text PRIMARY KEY, payment_id text, type text, data jsonb);
"""


def _connection() -> psycopg.Connection:
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(DSN)
    return _conn


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    key = environ.get("HTTP_IDEMPOTENCY_KEY") or uuid.uuid4().hex
    payment_id, attempt_id = "pay_" + uuid.uuid4().hex, "att_" + uuid.uuid4().hex
    conn = _connection()
    with conn.transaction():
        conn.execute("INSERT INTO bl_idempotency (merchant, key) VALUES ('m', %s)", (key,))
        conn.execute(
            "INSERT INTO bl_payment (id, merchant, amount, currency, status) VALUES (%s, 'm', %s, %s, 'processing')",
            (payment_id, body.get("amount", 0), body.get("currency", "usd")),
        )
        conn.execute(
            "INSERT INTO bl_attempt (id, payment_id, status) VALUES (%s, %s, 'succeeded')", (attempt_id, payment_id)
        )
        conn.execute("UPDATE bl_payment SET status = 'succeeded' WHERE id = %s", (payment_id,))
        out = {"id": payment_id, "status": "succeeded", "amount": body.get("amount", 0)}
        conn.execute(
            "INSERT INTO bl_event (id, payment_id, type, data) VALUES (%s, %s, 'payment.succeeded', %s)",
            ("evt_" + uuid.uuid4().hex, payment_id, json.dumps(out)),
        )
        conn.execute(
            "UPDATE bl_idempotency SET status = 201, body = %s WHERE merchant = 'm' AND key = %s",
            (json.dumps(out), key),
        )
    payload = json.dumps(out).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def create_schema() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(SCHEMA)
