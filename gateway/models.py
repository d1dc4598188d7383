from django.db import models


class IdempotencyKey(models.Model):
    """One row per (merchant, scope, key). ``response_status`` is null while the first request
    holding the key is still executing; concurrent requests with the key get a 409 meanwhile."""

    merchant_id = models.CharField(max_length=40)
    # "secret", "publishable" or a customer id: a customer cannot replay a merchant's response.
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=8)
    request_path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    locked_at = models.DateTimeField(null=True)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant_id", "scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.key}"
