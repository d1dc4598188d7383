# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("events", "0002_tenant_keys"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="delivery", fields=["endpoint"]),
        ForeignKeyIndexesRemove(model_name="deliveryattempt", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="event", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="webhookendpoint", fields=["merchant"]),
        LikeIndexesRemove(model_name="event", fields=["id"]),
        LikeIndexesRemove(model_name="webhookendpoint", fields=["id"]),
        LikeIndexesRemove(model_name="delivery", fields=["id", "merchant", "event"]),
        LikeIndexesRemove(model_name="deliveryattempt", fields=["delivery"]),
    ]
