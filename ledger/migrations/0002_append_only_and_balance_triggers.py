"""Database-enforced ledger rules, so no code path (ORM, raw SQL, admin, a shell) can break them.

* Append-only: UPDATE and DELETE on accounts, entries and lines raise (PostgreSQL and SQLite).
  TRUNCATE fires no row triggers, so test flushes still work; production should not grant TRUNCATE
  to the application role.
* Balanced (PostgreSQL only): a deferred constraint trigger checks at COMMIT that every entry
  touched in the transaction has at least two lines, debits = credits = the entry's amount, and
  only accounts of the entry's merchant and currency. SQLite (the embedded demo mode) has no
  deferred triggers; there the service's own check and ``manage.py ledger_verify`` stand guard.

SQLite caveat for later migrations: Django rebuilds a SQLite table for most ALTERs, which drops its
triggers; a migration that alters these tables must re-run ``SQLITE_FORWARD``.
"""

from django.db import migrations

TABLES = ("ledger_account", "ledger_journal_entry", "ledger_journal_line")

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger is append-only: % on % rejected (post a correcting entry instead)',
            TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()"
        for table in TABLES
    ),
    """
    CREATE OR REPLACE FUNCTION ledger_assert_entry_balanced(entry_ref varchar) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        entry_amount bigint;
        line_count bigint;
        debits numeric;
        credits numeric;
        foreign_lines bigint;
    BEGIN
        SELECT e.amount, count(l.id), coalesce(sum(l.debit), 0), coalesce(sum(l.credit), 0),
               count(l.id) FILTER (WHERE a.merchant_id <> e.merchant_id OR a.currency <> e.currency)
          INTO entry_amount, line_count, debits, credits, foreign_lines
          FROM ledger_journal_entry e
          LEFT JOIN ledger_journal_line l ON l.entry_id = e.id
          LEFT JOIN ledger_account a ON a.id = l.account_id
         WHERE e.id = entry_ref
         GROUP BY e.id, e.amount;
        IF NOT FOUND THEN
            RETURN;  -- a line pointing at no entry is the foreign key's to report
        END IF;
        IF line_count < 2 OR debits <> credits OR debits <> entry_amount OR foreign_lines > 0 THEN
            RAISE EXCEPTION
                'ledger entry % is not balanced: % line(s), debits %, credits %, amount %, % foreign line(s)',
                entry_ref, line_count, debits, credits, entry_amount, foreign_lines
                USING ERRCODE = 'check_violation';
        END IF;
    END;
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_entry_balanced_on_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM ledger_assert_entry_balanced(NEW.id);
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_entry_balanced_on_line() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM ledger_assert_entry_balanced(NEW.entry_id);
        RETURN NULL;
    END;
    $$
    """,
    "CREATE CONSTRAINT TRIGGER ledger_journal_entry_balanced AFTER INSERT ON ledger_journal_entry "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced_on_entry()",
    "CREATE CONSTRAINT TRIGGER ledger_journal_line_balanced AFTER INSERT ON ledger_journal_line "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced_on_line()",
]

PG_REVERSE = [
    "DROP TRIGGER IF EXISTS ledger_journal_line_balanced ON ledger_journal_line",
    "DROP TRIGGER IF EXISTS ledger_journal_entry_balanced ON ledger_journal_entry",
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS ledger_entry_balanced_on_line()",
    "DROP FUNCTION IF EXISTS ledger_entry_balanced_on_entry()",
    "DROP FUNCTION IF EXISTS ledger_assert_entry_balanced(varchar)",
    "DROP FUNCTION IF EXISTS ledger_reject_change()",
]

SQLITE_FORWARD = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {op} on {table} rejected'); END"
    for table in TABLES
    for op in ("UPDATE", "DELETE")
]

SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}" for table in TABLES for op in ("UPDATE", "DELETE")]

STATEMENTS = {
    "postgresql": (PG_FORWARD, PG_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _run(schema_editor, *, forward: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        # Refuse rather than silently run a ledger the database does not protect.
        raise RuntimeError(f"ledger triggers are not written for the {vendor!r} database")
    for statement in STATEMENTS[vendor][0 if forward else 1]:
        schema_editor.execute(statement, params=None)  # None: the SQL contains literal % signs


def forwards(apps, schema_editor):
    _run(schema_editor, forward=True)


def backwards(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
