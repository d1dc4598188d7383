from django.db import models

from gateway.ids import PublicIdField


class Merchant(models.Model):
    """A tenant. Every tenant-owned row elsewhere carries ``merchant_id``."""

    id = PublicIdField(prefix="mer")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Token-bucket overrides; null means the gateway default from settings.
    rate_limit_per_second = models.FloatField(null=True, blank=True)
    rate_limit_burst = models.PositiveIntegerField(null=True, blank=True)
    # Free-form operational settings (e.g. sandbox latency/failure injection), edited in admin.
    settings = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        SECRET = "secret", "Secret"
        PUBLISHABLE = "publishable", "Publishable"

    id = PublicIdField(prefix="key")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    livemode = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True)
    # Only a SHA-256 of the key (keys are 190+ bits of randomness) and a short display prefix.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "kind"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.kind})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
