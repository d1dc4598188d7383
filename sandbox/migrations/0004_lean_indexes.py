# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("sandbox", "0003_payouts_and_captured_at"),
    ]

    operations = [
        LikeIndexesRemove(model_name="sandboxcharge", fields=["id"]),
        LikeIndexesRemove(model_name="sandboxrefund", fields=["id", "charge"]),
        LikeIndexesRemove(model_name="sandboxfaultplan", fields=["merchant_id"]),
        LikeIndexesRemove(model_name="sandboxdispute", fields=["id"]),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sandboxdispute",
                    name="charge",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disputes",
                        to="sandbox.sandboxcharge",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="sandboxdispute", fields=["charge"])],
        ),
    ]
