"""Fees, disputes and payouts in the books: four accounts, seven entry kinds, ``occurred_at`` (when
the event happened at the processor), and payment_id empty exactly for payout entries.

Adding a nullable column and a CHECK updates no row, so the append-only triggers are untouched on
PostgreSQL. On SQLite both rebuild ``ledger_journal_entry``, which drops its triggers (0002's
caveat): they are created again here.
"""

from django.db import migrations, models

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_journal_entry_no_{op.lower()} BEFORE {op} ON ledger_journal_entry "
    f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {op} on ledger_journal_entry rejected'); END"
    for op in ("UPDATE", "DELETE")
]


def sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_journal_line_merchant'),
        ('merchants', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='journalentry',
            name='occurred_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='journalentry',
            name='kind',
            field=models.CharField(choices=[('capture', 'Capture'), ('refund', 'Refund'), ('fee', 'Processor fee'), ('fee_reversal', 'Processor fee returned'), ('dispute', 'Dispute opened'), ('dispute_reversal', 'Dispute won'), ('payout', 'Payout created'), ('payout_paid', 'Payout arrived'), ('payout_failed', 'Payout failed')], max_length=16),
        ),
        migrations.AlterField(
            model_name='ledgeraccount',
            name='code',
            field=models.CharField(choices=[('processor_receivable', 'Processor receivable'), ('merchant_balance', 'Merchant balance'), ('processor_fees', 'Processor fees'), ('disputes', 'Disputes'), ('payouts_in_transit', 'Payouts in transit'), ('bank', 'Bank')], max_length=40),
        ),
        migrations.AlterField(
            model_name='ledgeraccount',
            name='type',
            field=models.CharField(choices=[('asset', 'Asset'), ('liability', 'Liability'), ('expense', 'Expense')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='journalentry',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind__in', ['payout', 'payout_failed', 'payout_paid']), ('payment_id', '')), models.Q(models.Q(('kind__in', ['payout', 'payout_failed', 'payout_paid']), _negated=True), models.Q(('payment_id', ''), _negated=True)), _connector='OR'), name='ledger_entry_payment_reference'),
        ),
        migrations.RunPython(sqlite_triggers, migrations.RunPython.noop, elidable=False),
    ]
