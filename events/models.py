from django.db import models
from django.db.models import Q

from gateway.ids import PublicIdField


class Event(models.Model):
    """Transactional outbox: written in the same transaction as the change it describes."""

    id = PublicIdField(prefix="evt")
    # No index of its own: the (merchant, ...) indexes below lead with it (tests/test_lean_indexes.py).
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    type = models.CharField(max_length=64)
    livemode = models.BooleanField(default=False)
    # Snapshot of the API representation of the object at the time of the change.
    data = models.JSONField()
    request_id = models.CharField(max_length=40, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # Set once the event's deliveries exist; the sweep fans out every event still without it.
    deliveries_scheduled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "type", "id"]),
            models.Index(fields=["merchant", "livemode", "id"], name="events_event_mer_live_id"),
            models.Index(
                fields=["created"], name="events_event_unscheduled", condition=Q(deliveries_scheduled_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class WebhookEndpoint(models.Model):
    id = PublicIdField(prefix="we")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True, default="")
    # Event types, or ["*"] for all.
    enabled_events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # Signing secrets, encrypted with gateway.crypto (purpose "webhook_secret"); never shown after creation.
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(null=True, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Health flags: the first failed attempt since the last success, and when a delivery gave up.
    failing_since = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "livemode", "id"], name="events_we_mer_live_id")]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


class Delivery(models.Model):
    """One event to one endpoint; retried until it succeeds or gives up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    id = PublicIdField(prefix="whd")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    # No index of its own: an index or unique constraint of this table leads with it.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    # The first delivery of an event to an endpoint is unique; resends are extra rows.
    is_resend = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a task was last enqueued for next_attempt_at; null means the sweep owns the next attempt.
    task_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "event", "endpoint"],
                condition=Q(is_resend=False),
                name="events_delivery_one_per_endpoint",
            )
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="events_delivery_due", condition=Q(status="pending")),
            models.Index(fields=["endpoint", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.event_id} -> {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    # The delivery's merchant, so the row is distributed with its delivery (docs/scaling.md).
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=500, blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    url = models.CharField(max_length=2048)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["merchant", "delivery", "number"], name="events_attempt_number")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.status_code or self.error}"
