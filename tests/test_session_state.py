"""The session-state guard (tests/session_state.py) catches each kind of statement PgBouncer's
transaction pooling would break, and lets through what the gateway really runs."""

import pytest
from django.db import connection, transaction

from tests.session_state import SessionStateError, session_state_allowed, violation


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_try_advisory_lock(hashtext('x'))",
        "SELECT pg_advisory_unlock(1)",
        "LISTEN payments",
        "PREPARE q AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "CREATE TEMP TABLE t (x int)",
        "SET statement_timeout = 0",
        "RESET ALL",
        "SELECT set_config('statement_timeout', '0', false)",
    ],
)
def test_flags_statements_that_leave_session_state(sql):
    assert violation(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_xact_lock(hashtextextended('ledger:payment:pay_1', 0))",
        "SET LOCAL statement_timeout = '5s'",
        "SET CONSTRAINTS ALL IMMEDIATE",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT set_config('TimeZone', 'UTC', false)",
        "SELECT set_config('app.x', '1', true)",
        "SELECT * FROM payments_payment WHERE id = %s FOR NO KEY UPDATE",
    ],
)
def test_lets_through_what_survives_transaction_pooling(sql):
    assert violation(sql) is None


@pytest.mark.django_db
def test_is_installed_on_the_suites_connection():
    with pytest.raises(SessionStateError), connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    with session_state_allowed(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
