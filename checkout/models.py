"""Checkout sessions: what a merchant asks the customer to pay on the gateway's hosted page.

A session owns at most one payment (``payment``, a one-to-one: the database refuses a second
session on the same payment), created the first time the customer submits the page and reused
by every later try (another card after a decline, PayPal after a card). Whatever the browser does
(double submit, two tabs, the back button), payments' own state machine then lets at most one
confirmation of that one payment succeed. See ``checkout/locks.py`` and ``checkout/state.py``.

Money: ``amount_total`` in minor units of ``currency`` (the order's outstanding total, or the
amount the merchant gave).
"""

import secrets

from django.db import models
from django.db.models import Q

from gateway.ids import new_id

SESSION_ID_PREFIX = "cs_"
# After the time-sortable public id (80 random bits), 130 more random bits: the id is the
# capability that opens the hosted page, so it must be unguessable, not just unique.
_EXTRA_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_EXTRA_LENGTH = 26
SESSION_ID_LENGTH = len(SESSION_ID_PREFIX) + 26 + _EXTRA_LENGTH


def checkout_session_id_new() -> str:
    extra = "".join(secrets.choice(_EXTRA_ALPHABET) for _ in range(_EXTRA_LENGTH))
    return new_id("cs") + extra


def looks_like_session_id(value: str) -> bool:
    body = value[len(SESSION_ID_PREFIX) :]
    return (
        value.startswith(SESSION_ID_PREFIX)
        and len(value) == SESSION_ID_LENGTH
        and all(c in _EXTRA_ALPHABET for c in body)
    )


class SessionStatus(models.TextChoices):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class SessionPaymentStatus(models.TextChoices):
    UNPAID = "unpaid"
    AUTHORIZED = "authorized"  # manual capture: the money is held, the merchant captures it
    PAID = "paid"


class CheckoutSession(models.Model):
    Status = SessionStatus

    id = models.CharField(primary_key=True, max_length=64, editable=False, default=checkout_session_id_new)
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    payment_status = models.CharField(
        max_length=16, choices=SessionPaymentStatus.choices, default=SessionPaymentStatus.UNPAID
    )
    amount_total = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # [{"description": str, "quantity": int, "amount": int | None}] as shown on the page.
    line_items = models.JSONField(default=list, blank=True)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # One session per payment: the unique constraint with the merchant below (a distributed table
    # enforces uniqueness only with the distribution column; tests/test_sharding.py).
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    payment_method_types = models.JSONField(default=list)
    capture_method = models.CharField(max_length=16, default="automatic")
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000)
    locale = models.CharField(max_length=16, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField()
    # The payment is with the processor or the customer (processing, requires_action): the sweep
    # follows it until it is final, even when the customer's browser is gone.
    payment_pending = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "id"], name="cs_merchant_id"),
            models.Index(fields=["merchant", "livemode", "status", "id"], name="cs_merchant_status_id"),
            models.Index(fields=["expires_at"], name="cs_open_expiry", condition=Q(status="open")),
            models.Index(
                fields=["updated"], name="cs_payment_pending", condition=Q(status="open", payment_pending=True)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "payment"], name="cs_merchant_payment_unique"),
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="cs_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_status__in=SessionPaymentStatus.values), name="cs_payment_status_valid"
            ),
            models.CheckConstraint(condition=Q(amount_total__gt=0), name="cs_amount_positive"),
            # complete <=> a payment that holds or received the money; expired never says paid.
            models.CheckConstraint(
                condition=~Q(status="complete") | (Q(payment__isnull=False) & ~Q(payment_status="unpaid")),
                name="cs_complete_has_payment",
            ),
            models.CheckConstraint(
                condition=Q(status="complete") | Q(payment_status="unpaid"), name="cs_paid_is_complete"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id[:16]}… {self.amount_total} {self.currency} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status == SessionStatus.OPEN
