# Issue 14: no index that no query uses (gateway.migration_operations; tests/test_lean_indexes.py).

import django.db.models.deletion
from django.db import migrations, models

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove


class Migration(migrations.Migration):
    atomic = False  # the indexes are dropped CONCURRENTLY

    dependencies = [
        ("merchants", "0002_lean_indexes"),
        ("payments", "0005_recovery_and_sync_marker"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="payment",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="payment", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="paymentattempt",
                    name="payment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="attempts",
                        to="payments.payment",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="paymentattempt", fields=["payment"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="paymentmethod",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="paymentmethod", fields=["merchant"])],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="refund",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                )
            ],
            database_operations=[ForeignKeyIndexesRemove(model_name="refund", fields=["merchant"])],
        ),
        LikeIndexesRemove(model_name="paymentmethod", fields=["id", "customer"]),
        LikeIndexesRemove(model_name="payment", fields=["id", "order", "customer", "payment_method"]),
        LikeIndexesRemove(model_name="paymentattempt", fields=["id", "merchant"]),
        LikeIndexesRemove(model_name="refund", fields=["id", "payment"]),
    ]
