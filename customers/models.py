from django.db import models
from django.db.models.functions import Lower

from gateway.ids import PublicIdField


class Customer(models.Model):
    id = PublicIdField(prefix="cus")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    # Null once personal data is erased; the row stays so orders and payments remain auditable.
    email = models.EmailField(max_length=254, null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=16, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "merchant", name="customer_email_unique_per_merchant"),
        ]

    def __str__(self) -> str:
        return self.id
