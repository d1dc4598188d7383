from django.db import models


class IdempotencyKey(models.Model):
    """One row per (merchant, scope, key). ``response_status`` is null while the request holding
    the key (``claim_token``, since ``locked_at``) is executing; concurrent requests with the key
    get a 409 meanwhile. A claim older than the request deadline, or released (``locked_at``
    null) without a stored response, belongs to a request that is no longer running: the next
    retry takes it over. ``recovery_object_*`` is the recovery point: the object the request
    created or changed, written in the same transaction as that object, so a retry answers with
    the object instead of executing again (see ``gateway.idempotency``)."""

    merchant_id = models.CharField(max_length=40)
    # "secret", "publishable" or a customer id: a customer cannot replay a merchant's response.
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=8)
    request_path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    locked_at = models.DateTimeField(null=True)
    # Which execution owns the key: a takeover changes it, so a presumed-dead request that is in
    # fact still running can no longer record a recovery point or store its response.
    claim_token = models.UUIDField(null=True)
    recovery_object_type = models.CharField(max_length=32, blank=True)
    recovery_object_id = models.CharField(max_length=64, blank=True)
    # The status the request answers when it succeeds (201 for a creation, 200 otherwise).
    recovery_status = models.PositiveSmallIntegerField(null=True)
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
