"""Processor accounts (a merchant's credentials at Stripe / PayPal), routes, breaker history and
incoming processor webhook events.

Credentials are one JSON object encrypted with ``gateway.crypto`` (purpose
``processor_credentials``); nothing else in this module ever holds them in clear.
"""

from django.core.exceptions import ValidationError
from django.db import models

from gateway.ids import PublicIdField

CREDENTIALS_PURPOSE = "processor_credentials"


class ProcessorAccount(models.Model):
    class Processor(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        PAYPAL = "paypal", "PayPal"
        SANDBOX = "sandbox", "Sandbox"

    id = PublicIdField(prefix="pra")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="processor_accounts", db_index=False
    )
    processor = models.CharField(max_length=16, choices=Processor.choices)
    display_name = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    # gateway.crypto token of {"secret_key", "webhook_secret"} (Stripe) or {"client_id", "client_secret"} (PayPal).
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    # Empty: the processor's public API for the mode. Tests point it at a local fake server.
    base_url = models.URLField(max_length=300, blank=True, default="")
    connect_timeout = models.FloatField(null=True, blank=True, help_text="Seconds; empty: the gateway default.")
    read_timeout = models.FloatField(null=True, blank=True, help_text="Seconds; empty: the gateway default.")
    # PayPal's id of the webhook subscription (not a secret; sent to verify-webhook-signature).
    webhook_id = models.CharField(max_length=100, blank=True, default="")
    breaker_fail_max = models.PositiveIntegerField(null=True, blank=True)
    breaker_reset_timeout = models.FloatField(null=True, blank=True, help_text="Seconds the breaker stays open.")
    is_active = models.BooleanField(default=True, help_text="Inactive accounts are skipped by routing.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "processor"])]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.processor}, {self.id})"


class ProcessorRoute(models.Model):
    """One entry of a merchant's ordered route for a payment method (and optionally a currency)."""

    class PaymentMethodType(models.TextChoices):
        CARD = "card", "Card"
        PAYPAL = "paypal", "PayPal"

    id = PublicIdField(prefix="prr")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="processor_routes", db_index=False
    )
    payment_method_type = models.CharField(max_length=16, choices=PaymentMethodType.choices)
    # Empty: any currency. Currency-specific entries are tried before the generic ones.
    currency = models.CharField(max_length=3, blank=True, default="")
    priority = models.PositiveIntegerField(help_text="Lower is tried first.")
    account = models.ForeignKey(ProcessorAccount, on_delete=models.CASCADE, related_name="routes")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant", "payment_method_type", "currency", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "payment_method_type", "currency", "priority"], name="processor_route_priority"
            ),
            models.UniqueConstraint(
                fields=["merchant", "payment_method_type", "currency", "account"], name="processor_route_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_method_type}/{self.currency or '*'} #{self.priority} -> {self.account_id}"

    def clean(self) -> None:
        # A route sends the merchant's payments to an account: never to another merchant's.
        super().clean()
        if self.account_id and self.merchant_id and self.account.merchant_id != self.merchant_id:
            raise ValidationError({"account": "The account must belong to the route's merchant."})


class BreakerEvent(models.Model):
    """A circuit breaker state change, for operators (admin); the live state is in Redis."""

    breaker = models.CharField(max_length=100, db_index=True)  # account id, or "sandbox:<merchant id>"
    merchant_id = models.CharField(max_length=40, blank=True, default="")
    old_state = models.CharField(max_length=16, blank=True, default="")
    new_state = models.CharField(max_length=16)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.breaker}: {self.old_state or '-'} -> {self.new_state}"


class ProcessorWebhookEvent(models.Model):
    """A verified notification from a processor; (account, processor_event_id) is unique, so a
    redelivery is acknowledged and ignored."""

    id = PublicIdField(prefix="pwe")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False)
    account = models.ForeignKey(ProcessorAccount, on_delete=models.CASCADE, related_name="webhook_events")
    processor_event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    processor_reference = models.CharField(max_length=255, blank=True, default="")
    refund_reference = models.CharField(max_length=255, blank=True, default="")
    payload = models.JSONField()
    received = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "account", "processor_event_id"], name="processor_webhook_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.processor_event_id}"
