"""Every events table carries merchant_id in its unique constraints, and delivery attempts carry
their delivery's merchant, so the app's tables can be distributed by merchant (docs/scaling.md)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Delivery = apps.get_model("events", "Delivery")
    DeliveryAttempt = apps.get_model("events", "DeliveryAttempt")
    DeliveryAttempt.objects.update(
        merchant_id=Subquery(Delivery.objects.filter(pk=OuterRef("delivery_id")).values("merchant_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("merchants", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="delivery", name="events_delivery_one_per_endpoint"),
        migrations.RemoveConstraint(model_name="deliveryattempt", name="events_attempt_number"),
        migrations.AddField(
            model_name="deliveryattempt",
            name="merchant",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="merchants.merchant"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="deliveryattempt",
            name="merchant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="merchants.merchant"
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_resend", False)),
                fields=("merchant", "event", "endpoint"),
                name="events_delivery_one_per_endpoint",
            ),
        ),
        migrations.AddConstraint(
            model_name="deliveryattempt",
            constraint=models.UniqueConstraint(
                fields=("merchant", "delivery", "number"), name="events_attempt_number"
            ),
        ),
    ]
