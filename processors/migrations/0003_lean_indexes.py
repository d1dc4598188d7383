# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("processors", "0002_tenant_keys"),
    ]

    operations = [
        ForeignKeyIndexesRemove(model_name="processoraccount", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="processorroute", fields=["merchant"]),
        ForeignKeyIndexesRemove(model_name="processorwebhookevent", fields=["merchant"]),
        LikeIndexesRemove(model_name="processoraccount", fields=["id"]),
        LikeIndexesRemove(model_name="processorroute", fields=["id", "account"]),
        LikeIndexesRemove(model_name="breakerevent", fields=["breaker"]),
        LikeIndexesRemove(model_name="processorwebhookevent", fields=["id", "account"]),
    ]
