import pytest
from django.db import connection

from tests.factories import MerchantFactory


@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Acme")


@pytest.fixture
def other_merchant(db):
    return MerchantFactory(name="Globex")


@pytest.fixture
def balance_trigger_disabled(db):
    """Switch off the commit-time balance check for this test's transaction only (DDL is rolled back
    with it), to stand in for books damaged behind the database's back: restored from a bad backup,
    written with triggers off, or in the SQLite demo mode, which has no such trigger."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # first check what is pending: ALTER refuses to drop it
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("ALTER TABLE ledger_journal_entry DISABLE TRIGGER ledger_journal_entry_balanced")
        cursor.execute("ALTER TABLE ledger_journal_line DISABLE TRIGGER ledger_journal_line_balanced")
