# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("processors", "0002_tenant_keys"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="processoraccount",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="processor_accounts",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="processoraccount", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="processorroute",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="processor_routes",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="processorroute", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="processorwebhookevent",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="processorwebhookevent", fields=["merchant"])],
        ),
        LikeIndexesRemove(model_name="processoraccount", fields=["id"]),
        LikeIndexesRemove(model_name="processorroute", fields=["id", "account"]),
        LikeIndexesRemove(model_name="breakerevent", fields=["breaker"]),
        LikeIndexesRemove(model_name="processorwebhookevent", fields=["id", "account"]),
    ]
