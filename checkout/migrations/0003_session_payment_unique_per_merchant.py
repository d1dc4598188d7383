"""A payment has at most one checkout session, now unique with the merchant (a distributed table
enforces uniqueness only with its distribution column; tests/test_sharding.py).

The field becomes a plain foreign key in Django's state. In the database the global unique
constraint on ``payment_id`` becomes a plain index (the foreign key's, as Django names it), by
hand: Django's ``AlterField`` would drop the foreign key and add it back, and adding it checks
every row under a lock that also blocks writes to ``payments_payment``. PostgreSQL only: the
embedded mode's SQLite keeps its stricter unique index.
"""

import django.db.models.deletion
from django.db import migrations, models


def _unique_to_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("checkout", "CheckoutSession")
    field = model._meta.get_field("payment")
    for name in schema_editor._constraint_names(model, [field.column], unique=True, primary_key=False):
        schema_editor.execute(schema_editor._delete_unique_sql(model, name))
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


def _index_to_unique(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("checkout", "CheckoutSession")
    field = model._meta.get_field("payment")
    index = schema_editor._create_index_name(model._meta.db_table, [field.column])
    schema_editor.execute(schema_editor._delete_index_sql(model, index))
    schema_editor.execute(schema_editor._create_unique_sql(model, [field]))


class Migration(migrations.Migration):
    dependencies = [
        ("checkout", "0002_lean_indexes"),
        ("payments", "0006_lean_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="checkoutsession",
                    name="payment",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="payments.payment",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(_unique_to_index, _index_to_unique)],
        ),
        migrations.AddConstraint(
            model_name="checkoutsession",
            constraint=models.UniqueConstraint(fields=("merchant", "payment"), name="cs_merchant_payment_unique"),
        ),
    ]
