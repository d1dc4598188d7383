"""Journal lines carry their entry's merchant, so every ledger table can be distributed by
``merchant_id`` (docs/scaling.md), and the balance rule refuses a line of another merchant.

Lines are append-only (0002): the backfill runs with the row trigger off, inside this migration's
transaction. On SQLite, making the column NOT NULL rebuilds the table, which drops its triggers:
they are created again here.
"""

import django.db.models.deletion
from django.db import migrations, models

PG_BACKFILL = [
    "ALTER TABLE ledger_journal_line DISABLE TRIGGER ledger_journal_line_append_only",
    "UPDATE ledger_journal_line l SET merchant_id = e.merchant_id FROM ledger_journal_entry e WHERE e.id = l.entry_id",
    "ALTER TABLE ledger_journal_line ENABLE TRIGGER ledger_journal_line_append_only",
]
SQLITE_BACKFILL = [
    "DROP TRIGGER IF EXISTS ledger_journal_line_no_update",
    "UPDATE ledger_journal_line SET merchant_id = "
    "(SELECT e.merchant_id FROM ledger_journal_entry e WHERE e.id = ledger_journal_line.entry_id)",
]
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_journal_line_no_{op.lower()} BEFORE {op} ON ledger_journal_line "
    f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {op} on ledger_journal_line rejected'); END"
    for op in ("UPDATE", "DELETE")
]


def _balance_function(*, line_merchant: bool) -> str:
    foreign = "a.merchant_id <> e.merchant_id OR a.currency <> e.currency"
    if line_merchant:
        foreign += " OR l.merchant_id <> e.merchant_id"
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
    vendor = schema_editor.connection.vendor
    _execute(schema_editor, PG_BACKFILL if vendor == "postgresql" else SQLITE_BACKFILL)


def rules_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _execute(schema_editor, [_balance_function(line_merchant=True)])
    else:
        _execute(schema_editor, SQLITE_TRIGGERS)


def rules_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _execute(schema_editor, [_balance_function(line_merchant=False)])
    else:
        _execute(schema_editor, SQLITE_TRIGGERS)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_append_only_and_balance_triggers"),
        ("merchants", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="journalline",
            name="merchant",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="merchants.merchant"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="journalline",
            name="merchant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="merchants.merchant"
            ),
        ),
        migrations.RunPython(rules_forward, rules_backward, elidable=False),
    ]
