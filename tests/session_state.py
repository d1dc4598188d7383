"""Fails any test whose code runs SQL that leaves state on the database session.

Production runs behind PgBouncer in transaction pooling mode: each transaction may be served by a
different PostgreSQL backend, so anything that outlives a transaction silently goes to the wrong
client (a session advisory lock is never released, a prepared statement or WITH HOLD cursor is
missing on the next backend, a SET applies to someone else). Every statement the suite runs goes
through ``guard``; a test that needs session state on purpose wraps it in ``session_state_allowed()``.

PgBouncer itself tracks and restores ``TimeZone`` (Django sets it with ``set_config``), so that one
is allowed.
"""

import re
import threading
from contextlib import contextmanager

FORBIDDEN = [
    (
        re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
        "a session advisory lock (use pg_advisory_xact_lock)",
    ),
    (re.compile(r"\bpg_advisory_unlock", re.I), "a session advisory unlock"),
    (re.compile(r"^\s*LISTEN\b", re.I), "LISTEN"),
    (re.compile(r"^\s*(PREPARE|EXECUTE|DEALLOCATE)\b", re.I), "a session prepared statement"),
    (re.compile(r"\bWITH\s+HOLD\b", re.I), "a cursor WITH HOLD"),
    (re.compile(r"^\s*CREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s", re.I), "a temporary table"),
    (re.compile(r"^\s*(SET|RESET)\s+(?!LOCAL\b)(?!CONSTRAINTS\b)(?!TRANSACTION\b)", re.I), "SET (use SET LOCAL)"),
    (re.compile(r"\bset_config\s*\(\s*'(?!TimeZone')[^']*'\s*,[^)]*,\s*false\s*\)", re.I), "set_config(..., false)"),
]

_allowed = threading.local()


class SessionStateError(AssertionError):
    pass


def violation(sql: str) -> str | None:
    for pattern, what in FORBIDDEN:
        if pattern.search(sql):
            return what
    return None


def guard(execute, sql, params, many, context):
    if isinstance(sql, str) and not getattr(_allowed, "on", False):
        found = violation(sql)
        if found:
            raise SessionStateError(f"{found} does not survive PgBouncer transaction pooling: {sql[:200]}")
    return execute(sql, params, many, context)


@contextmanager
def session_state_allowed():
    previous = getattr(_allowed, "on", False)
    _allowed.on = True
    try:
        yield
    finally:
        _allowed.on = previous


def install(connection) -> None:
    if guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(guard)
