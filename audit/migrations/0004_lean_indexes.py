# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

from django.db import migrations

from gateway.migration_operations import LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("audit", "0003_operator_groups"),
    ]

    operations = [
        LikeIndexesRemove(
            model_name="auditentry",
            fields=["id", "action", "object_type", "object_id", "merchant_id", "confirmation_token"],
        ),
    ]
