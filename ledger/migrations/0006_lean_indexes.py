# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("ledger", "0005_livemode"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="journalentry", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="ledgeraccount", fields=["merchant"]),
        LikeIndexesRemove(model_name="journalentry", fields=["id"]),
        LikeIndexesRemove(model_name="journalline", fields=["merchant", "entry"]),
    ]
