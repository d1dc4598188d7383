# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("orders", "0004_order_amount_disputed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="order", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="orderline",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="orderline", fields=["merchant"])],
        ),
        LikeIndexesRemove(model_name="order", fields=["id", "customer"]),
        LikeIndexesRemove(model_name="orderline", fields=["id", "order"]),
        LikeIndexesRemove(model_name="notification", fields=["id", "merchant", "order"]),
    ]
