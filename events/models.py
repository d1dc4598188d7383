from django.db import models

from gateway.ids import PublicIdField


class Event(models.Model):
    """Transactional outbox: written in the same transaction as the change it describes."""

    id = PublicIdField(prefix="evt")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=64)
    livemode = models.BooleanField(default=False)
    # Snapshot of the API representation of the object at the time of the change.
    data = models.JSONField()
    request_id = models.CharField(max_length=40, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "type", "id"])]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"
