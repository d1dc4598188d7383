# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0001_initial"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="apikey", fields=["merchant"]),
        LikeIndexesRemove(model_name="merchant", fields=["id"]),
        LikeIndexesRemove(model_name="apikey", fields=["id", "key_hash"]),
    ]
