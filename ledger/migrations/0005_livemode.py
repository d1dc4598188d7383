"""Test and live money in separate books: ``livemode`` on accounts and entries, part of their
unique constraints, and the balance rule refuses an entry with a line on the other mode's account.

Backfill: an entry takes the mode of the payment it references (payments_payment.livemode, read by
table name: the ledger keeps no foreign key into payments); an entry referencing no payment (a
payout) or an unknown one stays test mode. Until now one account per merchant, code and currency
held both modes' lines: each live entry's lines move to a new live account of the same code and
currency. Entries and lines are append-only (0002), so the backfill runs with the row triggers off
inside this migration's transaction. On SQLite, adding a column rebuilds the table and drops its
triggers: they are created again here.
"""

from django.db import migrations, models

# Portable SQL (PostgreSQL and SQLite). Live payments only: the column's default is test mode.
BACKFILL = [
    "UPDATE ledger_journal_entry SET livemode = TRUE WHERE payment_id <> '' AND payment_id IN "
    "(SELECT id FROM payments_payment WHERE livemode = TRUE)",
    "INSERT INTO ledger_account (merchant_id, code, type, currency, livemode, created) "
    "SELECT DISTINCT a.merchant_id, a.code, a.type, a.currency, TRUE, CURRENT_TIMESTAMP "
    "FROM ledger_journal_line l "
    "JOIN ledger_journal_entry e ON e.id = l.entry_id "
    "JOIN ledger_account a ON a.id = l.account_id "
    "WHERE e.livemode = TRUE AND a.livemode = FALSE",
    "UPDATE ledger_journal_line SET account_id = ("
    "  SELECT live.id FROM ledger_account a JOIN ledger_account live ON live.merchant_id = a.merchant_id "
    "  AND live.code = a.code AND live.currency = a.currency AND live.livemode = TRUE "
    "  WHERE a.id = ledger_journal_line.account_id) "
    "WHERE entry_id IN (SELECT id FROM ledger_journal_entry WHERE livemode = TRUE) "
    "AND account_id IN (SELECT id FROM ledger_account WHERE livemode = FALSE)",
]
PG_TRIGGERS_OFF = [
    "ALTER TABLE ledger_journal_entry DISABLE TRIGGER ledger_journal_entry_append_only",
    "ALTER TABLE ledger_journal_line DISABLE TRIGGER ledger_journal_line_append_only",
]
# Moving lines and adding accounts queues their deferred foreign-key checks, and PostgreSQL refuses
# ALTER TABLE (the triggers back on, the new constraints) on a table with checks pending: run them now.
PG_PENDING_CHECKS = ["SET CONSTRAINTS ALL IMMEDIATE", "SET CONSTRAINTS ALL DEFERRED"]
PG_TRIGGERS_ON = [
    "ALTER TABLE ledger_journal_entry ENABLE TRIGGER ledger_journal_entry_append_only",
    "ALTER TABLE ledger_journal_line ENABLE TRIGGER ledger_journal_line_append_only",
]
TABLES = ("ledger_account", "ledger_journal_entry", "ledger_journal_line")
SQLITE_TRIGGERS_OFF = [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in TABLES for op in ("update", "delete")]
SQLITE_TRIGGERS_ON = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {op} on {table} rejected'); END"
    for table in TABLES
    for op in ("UPDATE", "DELETE")
]


def _balance_function(*, livemode: bool) -> str:
    foreign = "a.merchant_id <> e.merchant_id OR a.currency <> e.currency OR l.merchant_id <> e.merchant_id"
    if livemode:
        foreign += " OR a.livemode <> e.livemode"
    return f"""
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
               count(l.id) FILTER (WHERE {foreign})
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
    """


def _execute(schema_editor, statements) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)  # None: the SQL contains literal % signs


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _execute(schema_editor, [*PG_TRIGGERS_OFF, *BACKFILL, *PG_PENDING_CHECKS, *PG_TRIGGERS_ON])
    else:
        _execute(schema_editor, [*SQLITE_TRIGGERS_OFF, *BACKFILL, *SQLITE_TRIGGERS_ON])


def rules_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _execute(schema_editor, [_balance_function(livemode=True)])
    else:
        _execute(schema_editor, SQLITE_TRIGGERS_ON)


def rules_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _execute(schema_editor, [_balance_function(livemode=False)])
    else:
        _execute(schema_editor, SQLITE_TRIGGERS_ON)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_fees_payouts_disputes"),
        ("merchants", "0001_initial"),
        # The backfill reads payments_payment.livemode.
        ("payments", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="ledgeraccount", name="ledger_account_unique_code"),
        migrations.RemoveConstraint(model_name="journalentry", name="ledger_entry_unique_operation"),
        migrations.AddField(model_name="ledgeraccount", name="livemode", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="journalentry", name="livemode", field=models.BooleanField(default=False)),
        migrations.AlterModelOptions(
            name="ledgeraccount",
            options={"ordering": ["merchant_id", "livemode", "currency", "code"]},
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="ledgeraccount",
            constraint=models.UniqueConstraint(
                fields=("merchant", "livemode", "code", "currency"), name="ledger_account_unique_code_mode"
            ),
        ),
        migrations.AddConstraint(
            model_name="journalentry",
            constraint=models.UniqueConstraint(
                fields=("merchant", "livemode", "kind", "payment_id", "operation_ref"),
                name="ledger_entry_unique_operation_mode",
            ),
        ),
        migrations.RunPython(rules_forward, rules_backward, elidable=False),
    ]
