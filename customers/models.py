from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from gateway.ids import PublicIdField

E164_PATTERN = r"^\+[1-9]\d{1,14}$"
e164_validator = RegexValidator(
    E164_PATTERN, "Enter a phone number in E.164 format, e.g. +14155550123.", code="invalid_phone"
)

EMAIL_UNIQUE_CONSTRAINT = "customer_email_unique_per_merchant_mode"


class Customer(models.Model):
    id = PublicIdField(prefix="cus")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    # Test and live customers are separate worlds: a key of one mode never reaches the other's rows.
    livemode = models.BooleanField(default=False)
    # Null once personal data is erased; the row stays so orders and payments remain auditable.
    email = models.EmailField(max_length=254, null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=16, blank=True, validators=[e164_validator])
    metadata = models.JSONField(default=dict, blank=True)
    # A Django hasher string (Argon2); empty means the customer cannot log in.
    password = models.CharField(max_length=128, blank=True, editable=False)
    failed_login_count = models.PositiveIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Erased rows keep no email, and the condition also lets the partial index serve logins.
            models.UniqueConstraint(
                Lower("email"),
                "merchant",
                "livemode",
                condition=Q(erased_at__isnull=True),
                name=EMAIL_UNIQUE_CONSTRAINT,
                violation_error_message="A customer with this email already exists.",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "livemode", "id"], name="customer_merchant_mode_id_idx")]

    def __str__(self) -> str:
        return self.id

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def has_password(self) -> bool:
        return bool(self.password)


class CustomerSession(models.Model):
    """A customer's login. Only a SHA-256 of the token is kept; the token is shown once, at login."""

    id = PublicIdField(prefix="sess")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sessions")
    token_hash = models.CharField(max_length=64, editable=False)
    livemode = models.BooleanField(default=False)
    created_ip = models.GenericIPAddressField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["expires_at"], name="customer_session_expires_idx"),
            # tokens issued before they named their merchant are found by hash alone
            models.Index(fields=["token_hash"], name="customer_session_hash_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "token_hash"], name="customer_session_token_unique"),
        ]

    def __str__(self) -> str:
        return self.id
