# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("events", "0002_tenant_keys"),
        ("merchants", "0002_lean_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="events.webhookendpoint",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="delivery", fields=["endpoint"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="deliveryattempt",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="deliveryattempt", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="event", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookendpoint",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="webhookendpoint", fields=["merchant"])],
        ),
        LikeIndexesRemove(model_name="event", fields=["id"]),
        LikeIndexesRemove(model_name="webhookendpoint", fields=["id"]),
        LikeIndexesRemove(model_name="delivery", fields=["id", "merchant", "event"]),
        LikeIndexesRemove(model_name="deliveryattempt", fields=["delivery"]),
    ]
