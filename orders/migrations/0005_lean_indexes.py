# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("orders", "0004_order_amount_disputed"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="order", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="orderline", fields=["merchant"]),
        LikeIndexesRemove(model_name="order", fields=["id", "customer"]),
        LikeIndexesRemove(model_name="orderline", fields=["id", "order"]),
        LikeIndexesRemove(model_name="notification", fields=["id", "merchant", "order"]),
    ]
