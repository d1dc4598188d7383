# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("ledger", "0005_livemode"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="journalentry",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="journal_entries",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="journalentry", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgeraccount",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_accounts",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="ledgeraccount", fields=["merchant"])],
        ),
        LikeIndexesRemove(model_name="journalentry", fields=["id"]),
        LikeIndexesRemove(model_name="journalline", fields=["merchant", "entry"]),
    ]
