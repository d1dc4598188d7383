"""A payment has at most one checkout session, now unique with the merchant (a distributed table
enforces uniqueness only with its distribution column; tests/test_sharding.py).

The field becomes a plain foreign key in Django's state, with ``cs_merchant_payment_unique``. In
the database, by hand:
- PostgreSQL: the global unique constraint on ``payment_id`` becomes a plain index (the foreign
  key's, as Django names it). Django's ``AlterField`` would drop the foreign key and add it back,
  and adding it checks every row under a lock that also blocks writes to ``payments_payment``.
- SQLite (the embedded mode): the new rule as a unique index. Django would add the constraint by
  rebuilding the table; the rebuild is skipped, and the old unique ``payment_id`` (stricter) stays.
"""

import django.db.models.deletion
from django.db import migrations, models

UNIQUE = "cs_merchant_payment_unique"
OLD_UNIQUE = "checkout_checkoutsession_payment_id_key"  # PostgreSQL's name for the column's UNIQUE


def _forwards(apps, schema_editor):
    model = apps.get_model("checkout", "CheckoutSession")
    payment = model._meta.get_field("payment")
    if schema_editor.connection.vendor == "postgresql":
        for name in schema_editor._constraint_names(model, [payment.column], unique=True, primary_key=False):
            schema_editor.execute(schema_editor._delete_unique_sql(model, name))
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[payment]))
    # PostgreSQL: ALTER TABLE ... ADD CONSTRAINT ... UNIQUE; SQLite: CREATE UNIQUE INDEX.
    schema_editor.execute(schema_editor._create_unique_sql(model, [model._meta.get_field("merchant"), payment], UNIQUE))


def _backwards(apps, schema_editor):
    model = apps.get_model("checkout", "CheckoutSession")
    payment = model._meta.get_field("payment")
    schema_editor.execute(schema_editor._delete_unique_sql(model, UNIQUE))
    if schema_editor.connection.vendor == "postgresql":
        index = schema_editor._create_index_name(model._meta.db_table, [payment.column])
        schema_editor.execute(schema_editor._delete_index_sql(model, index))
        schema_editor.execute(schema_editor._create_unique_sql(model, [payment], OLD_UNIQUE))


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
                migrations.AddConstraint(
                    model_name="checkoutsession",
                    constraint=models.UniqueConstraint(fields=("merchant", "payment"), name=UNIQUE),
                ),
            ],
            database_operations=[migrations.RunPython(_forwards, _backwards)],
        ),
    ]
