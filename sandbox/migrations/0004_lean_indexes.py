# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

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
        ForeignKeyIndexesRemove(model_name="sandboxdispute", fields=["charge"]),
    ]
