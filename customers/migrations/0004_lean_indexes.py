# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("customers", "0003_session_token_names_merchant"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="customer", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="customersession", fields=["merchant"]),
        LikeIndexesRemove(model_name="customer", fields=["id"]),
        LikeIndexesRemove(model_name="customersession", fields=["id", "customer"]),
    ]
