"""Payments, their processor attempts, saved payment methods and refunds.

Money columns are integer minor units of ``currency``. The amounts of a payment obey, at every
commit (check constraint ``payment_amounts_consistent``)::

    0 <= amount_refunded <= amount_received <= amount_authorized <= amount
    amount_capturable + amount_received <= amount_authorized

Attempts and refunds of a payment change only while the payment row is locked (lock order:
order -> payment -> refund -> ledger), so the payment row is the one serialization point.
"""

from django.db import models
from django.db.models import F, Q

from gateway.ids import PublicIdField


class PaymentStatus(models.TextChoices):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CaptureMethod(models.TextChoices):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class PaymentMethodType(models.TextChoices):
    CARD = "card"
    PAYPAL = "paypal"


# A payment in one of these holds (or may be about to hold) money for its order.
ORDER_BLOCKING_STATUSES = (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE)


class PaymentMethod(models.Model):
    """A card kept in the vault (``vault_token``: AES-GCM ciphertext of number and expiry, see
    ``payments.vault``) or a PayPal method. With ``customer`` set it is reusable by id; without,
    it is single-use (a card given before confirmation) and its ciphertext is erased once used."""

    id = PublicIdField(prefix="pm")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    livemode = models.BooleanField(default=False)
    type = models.CharField(max_length=16, choices=PaymentMethodType.choices)
    card_brand = models.CharField(max_length=16, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    vault_token = models.TextField(blank=True, editable=False)
    detached_at = models.DateTimeField(null=True, blank=True)
    # Browser-tokenized (POST /v1/payment_methods): usable by one payment until then, unless attached
    # to a customer; consumed_at is that payment's claim (payments/tokenization.py).
    single_use_expires_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "customer", "id"], name="pm_merchant_customer_id"),
            models.Index(fields=["merchant", "card_fingerprint"], name="pm_merchant_fingerprint"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=PaymentMethodType.values), name="pm_type_valid"),
            models.CheckConstraint(
                condition=~Q(type=PaymentMethodType.CARD)
                | (Q(card_exp_month__gte=1, card_exp_month__lte=12) & ~Q(card_last4="") & ~Q(card_brand="")),
                name="pm_card_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type} {self.card_brand} {self.card_last4}".strip()

    @property
    def is_detached(self) -> bool:
        return self.detached_at is not None


class Payment(models.Model):
    Status = PaymentStatus

    id = PublicIdField(prefix="pay")
    # No index of its own: the (merchant, ...) indexes below lead with it (tests/test_lean_indexes.py).
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.REQUIRES_PAYMENT_METHOD
    )
    capture_method = models.CharField(max_length=16, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)

    # The method of the current/last confirmation: a vaulted PaymentMethod, and in any case the
    # displayable snapshot (never the number, never the CVC).
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    payment_method_type = models.CharField(max_length=16, choices=PaymentMethodType.choices, blank=True)
    card_brand = models.CharField(max_length=16, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    # Attach the card to ``customer`` once the payment is authorized.
    save_payment_method = models.BooleanField(default=False)

    amount_authorized = models.BigIntegerField(default=0)
    amount_capturable = models.BigIntegerField(default=0)
    amount_received = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    # Set by the disputes app (payment_dispute_apply): whether a dispute is open or lost on this
    # payment, and how much the processor holds back for disputes (withdrawn, not reinstated).
    disputed = models.BooleanField(default=False)
    amount_disputed = models.BigIntegerField(default=0)

    # The processor account holding the authorization and its id of the charge.
    processor = models.CharField(max_length=32, blank=True)
    processor_account_id = models.CharField(max_length=64, blank=True)
    processor_reference = models.CharField(max_length=255, blank=True)

    last_payment_error = models.JSONField(null=True, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    decline_count = models.PositiveIntegerField(default=0)
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=32, blank=True)
    # Why an operator must look at this payment (e.g. money captured for an order that could no
    # longer take it); empty when all is well.
    review_reason = models.CharField(max_length=64, blank=True)
    # The Idempotency-Key of the request that created it: a client that lost the answer finds it
    # (GET /v1/payments?idempotency_key=...). Unique per key by construction (gateway.idempotency).
    idempotency_key = models.CharField(max_length=255, blank=True)
    # A status sync (or requires_action poll) is queued for it since then: the beat enqueues at
    # most one at a time, so a stopped worker cannot pile up tries (PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS).
    sync_enqueued_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        # Also, on PostgreSQL only (migration 0004): a GIN index on metadata (jsonb_path_ops) for
        # the list's metadata[key]=value filter.
        indexes = [
            models.Index(fields=["merchant", "id"], name="pay_merchant_id"),
            models.Index(
                fields=["merchant", "idempotency_key"], name="pay_merchant_idem_key", condition=~Q(idempotency_key="")
            ),
            models.Index(fields=["merchant", "status", "id"], name="pay_merchant_status_id"),
            models.Index(fields=["merchant", "customer", "id"], name="pay_merchant_customer_id"),
            models.Index(fields=["merchant", "order", "id"], name="pay_merchant_order_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="pay_status_valid"),
            models.CheckConstraint(
                condition=Q(capture_method__in=CaptureMethod.values), name="pay_capture_method_valid"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="pay_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0)
                & Q(amount_refunded__lte=F("amount_received"))
                & Q(amount_received__lte=F("amount_authorized"))
                & Q(amount_authorized__lte=F("amount"))
                & Q(amount_capturable__gte=0)
                & Q(amount_capturable__lte=F("amount_authorized") - F("amount_received")),
                name="payment_amounts_consistent",
            ),
            # At most one payment per order may hold or be acquiring money at a time.
            models.UniqueConstraint(
                fields=["merchant", "order"],
                condition=Q(status__in=ORDER_BLOCKING_STATUSES) & Q(order__isnull=False),
                name="pay_one_active_per_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} {self.status}"

    @property
    def amount_refundable(self) -> int:
        return self.amount_received - self.amount_refunded


class AttemptOperation(models.TextChoices):
    AUTHORIZE = "authorize"  # create the charge (authorize, or authorize + capture)
    COMPLETE = "complete"  # finish it after the customer's redirect (3-D Secure, PayPal)
    CAPTURE = "capture"
    VOID = "void"


class AttemptStatus(models.TextChoices):
    STARTED = "started"  # the call is in flight (or its process died: the janitor resolves it)
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"  # provably not processed
    UNKNOWN = "unknown"  # may have happened: resolved by status sync only
    PENDING = "pending"  # accepted; the outcome comes later


UNRESOLVED_ATTEMPT_STATUSES = (AttemptStatus.STARTED, AttemptStatus.UNKNOWN, AttemptStatus.PENDING)


class PaymentAttempt(models.Model):
    """One call to a processor about a payment; its id is the processor's idempotency key."""

    Operation = AttemptOperation
    Status = AttemptStatus

    id = PublicIdField(prefix="att")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    # No index of its own: att_payment_id (payment, id) leads with it.
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="attempts", db_index=False)
    operation = models.CharField(max_length=16, choices=AttemptOperation.choices)
    # The payment's status before the operation: where it returns if nothing was processed.
    origin_status = models.CharField(max_length=32, choices=PaymentStatus.choices)
    processor = models.CharField(max_length=32)
    processor_account_id = models.CharField(max_length=64)
    processor_reference = models.CharField(max_length=255, blank=True)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.STARTED)
    raw_status = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    # When the processor said "pending": the pending schedule runs from here (an unknown outcome's
    # from ``created``, when the call was made); the janitor gives up by elapsed time, not tries.
    pending_since = models.DateTimeField(null=True, blank=True)
    # Set when the last scheduled status query could not resolve it: an operator must look.
    flagged_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["payment", "id"], name="att_payment_id"),
            models.Index(fields=["processor_account_id", "processor_reference"], name="att_processor_ref"),
            models.Index(
                fields=["next_sync_at"], name="att_sync_due", condition=Q(status__in=UNRESOLVED_ATTEMPT_STATUSES)
            ),
            # The janitor's poll of payments waiting for the customer (requires_action).
            models.Index(fields=["next_sync_at"], name="att_action_poll_due", condition=Q(status="requires_action")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AttemptStatus.values), name="att_status_valid"),
            models.CheckConstraint(condition=Q(operation__in=AttemptOperation.values), name="att_operation_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="att_amount_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.operation} {self.status}"


class RefundStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProcessorState(models.TextChoices):
    STARTED = "started"  # the call is in flight (or its process died)
    UNKNOWN = "unknown"
    PENDING = "pending"  # accepted by the processor, final outcome later
    RESOLVED = "resolved"


class RefundReason(models.TextChoices):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


class Refund(models.Model):
    """Money given back from a captured payment. ``pending`` reserves its amount (the payment's
    pending plus succeeded refunds never exceed ``amount_received``) until it succeeds or fails.
    Its id is the processor's idempotency key and the ledger's operation reference."""

    Status = RefundStatus

    id = PublicIdField(prefix="re")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    livemode = models.BooleanField(default=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    reason = models.CharField(max_length=32, choices=RefundReason.choices, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    processor = models.CharField(max_length=32)
    processor_account_id = models.CharField(max_length=64)
    processor_reference = models.CharField(max_length=255, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # While ``pending``: where the processor call stands (the janitor asks at next_sync_at).
    processor_state = models.CharField(max_length=16, choices=ProcessorState.choices, default=ProcessorState.STARTED)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    pending_since = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "id"], name="re_merchant_id"),
            models.Index(fields=["merchant", "payment", "id"], name="re_merchant_payment_id"),
            models.Index(fields=["next_sync_at"], name="re_sync_due", condition=Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="re_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="re_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} {self.status}"
