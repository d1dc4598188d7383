# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("payments", "0005_recovery_and_sync_marker"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="payment", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="paymentattempt", fields=["payment"]),
        ForeignKeyIndexesRemove(model_name="paymentmethod", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="refund", fields=["merchant"]),
        LikeIndexesRemove(model_name="paymentmethod", fields=["id", "customer"]),
        LikeIndexesRemove(model_name="payment", fields=["id", "order", "customer", "payment_method"]),
        LikeIndexesRemove(model_name="paymentattempt", fields=["id", "merchant"]),
        LikeIndexesRemove(model_name="refund", fields=["id", "payment"]),
    ]
