# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("reconciliation", "0002_payout_refused"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="reconciliationitem", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="reconciliationrun", fields=["merchant"]),
        LikeIndexesRemove(model_name="reconciliationrun", fields=["id"]),
        LikeIndexesRemove(model_name="reconciliationitem", fields=["id", "run"]),
    ]
