# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("disputes", "0002_books_flag"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="dispute", fields=["merchant"]),
        LikeIndexesRemove(model_name="dispute", fields=["id", "payment"]),
    ]
