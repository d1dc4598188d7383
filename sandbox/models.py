"""The sandbox processor's own book. It plays an *outside* processor, so it keeps what such a
processor would: charges and refunds keyed by the caller's reference (its idempotency key),
card brand and last four only, amounts and state. No card number, no CVC.

``merchant_id`` is the sandbox *account* (our merchant id, as a processor account id would be);
it is a plain column, not a foreign key, because an outside system has no key into our tables.
"""

from django.db import models

from gateway.ids import PublicIdField


class SandboxCharge(models.Model):
    class Status(models.TextChoices):
        REQUIRES_ACTION = "requires_action"  # waiting for the 3-D Secure challenge / PayPal approval
        REQUIRES_CAPTURE = "requires_capture"  # authorized, not captured
        SUCCEEDED = "succeeded"  # captured (amount_captured <= amount_authorized)
        CANCELED = "canceled"  # voided before capture, or redirect flow abandoned
        DECLINED = "declined"  # refused; no money moved

    class Action(models.TextChoices):
        NONE = "none"
        PENDING = "pending"
        APPROVED = "approved"
        FAILED = "failed"  # 3-D Secure failed
        CANCELED = "canceled"  # PayPal buyer cancelled

    # "sbch_..." for cards, "sbpo_..." for PayPal orders (set explicitly by the connector).
    id = PublicIdField(prefix="sbch")
    merchant_id = models.CharField(max_length=40)
    reference = models.CharField(max_length=255)
    payment_method_type = models.CharField(max_length=16)
    brand = models.CharField(max_length=16, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    capture_requested = models.BooleanField()
    status = models.CharField(max_length=20, choices=Status.choices)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.NONE)
    amount_authorized = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    decline_code = models.CharField(max_length=40, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    return_url = models.CharField(max_length=2000, blank=True)
    capture_reference = models.CharField(max_length=255, blank=True)
    void_reference = models.CharField(max_length=255, blank=True)
    # The disputed test card: a dispute opens once the charge is captured (sandbox.disputes).
    disputes_after_capture = models.BooleanField(default=False)
    # When the money was captured: the settlement line's time (a manual capture settles on the day
    # it is made, as a Stripe balance transaction does). Empty on rows made before it was kept:
    # those captured at creation.
    captured_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant_id", "reference"], name="sandbox_charge_reference_uniq"),
            models.CheckConstraint(
                condition=models.Q(amount_captured__lte=models.F("amount_authorized"))
                & models.Q(amount_refunded__lte=models.F("amount_captured"))
                & models.Q(amount_refunded__gte=0)
                & models.Q(amount__gt=0),
                name="sandbox_charge_amounts_ck",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} {self.status}"


class SandboxRefund(models.Model):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"

    id = PublicIdField(prefix="sbre")
    merchant_id = models.CharField(max_length=40)
    reference = models.CharField(max_length=255)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUCCEEDED)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant_id", "reference"], name="sandbox_refund_reference_uniq"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="sandbox_refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency}"


class SandboxFaultPlan(models.Model):
    """Deterministic failure injection: the next ``remaining`` calls of this account fail in ``mode``.

    Armed by ``sandbox.services.sandbox_fault_plan_set`` or by ``"fail_next": n`` in the merchant's
    ``settings["sandbox"]``. Complements the random ``failure_rate``; tests and benchmarks use it
    so results are not left to chance.
    """

    class Mode(models.TextChoices):
        FAILED = "failed"
        UNKNOWN = "unknown"
        UNKNOWN_AFTER_CHARGE = "unknown_after_charge"

    merchant_id = models.CharField(max_length=40, unique=True)
    remaining = models.PositiveIntegerField(default=0)
    mode = models.CharField(max_length=24, choices=Mode.choices, default=Mode.FAILED)
    # Comma-separated operations the plan applies to; empty = every money-moving call.
    operations = models.CharField(max_length=200, blank=True)
    # Hash of the merchant's settings["sandbox"] that last armed this plan through "fail_next":
    # the plan is re-armed only when those settings change, not on every call.
    settings_marker = models.CharField(max_length=64, blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.merchant_id}: next {self.remaining} -> {self.mode}"


class SandboxDispute(models.Model):
    """A dispute the sandbox opened on one of its charges (the disputed test card), in Stripe's
    statuses. It reaches the gateway like a processor's webhook would: a notification naming it
    (``delivered_at`` empty until sent), after which the gateway reads it (``Connector.dispute``)."""

    class Status(models.TextChoices):
        NEEDS_RESPONSE = "needs_response"
        UNDER_REVIEW = "under_review"
        WON = "won"
        LOST = "lost"

    id = PublicIdField(prefix="sbdp")
    merchant_id = models.CharField(max_length=40)
    # No index of its own: sandbox_dispute_one_per_charge (charge) serves it.
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="disputes", db_index=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=40, default="fraudulent")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEEDS_RESPONSE)
    evidence_due_by = models.DateTimeField()
    deliver_after = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["charge"], name="sandbox_dispute_one_per_charge")]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"


class SandboxPayout(models.Model):
    """A payout the sandbox made: once per account, currency and finished UTC day, of the net settled
    up to its cut-off (the day's last second) less the earlier payouts. Made once, never changed
    (the database refuses UPDATE and DELETE): later movements go into a later payout, as at a real
    processor. Its status follows the clock (``sandbox.settlement``): ``in_transit`` until its
    ``arrival``, one day after the cut-off, then ``paid``."""

    merchant_id = models.CharField(max_length=40)
    payout_id = models.CharField(max_length=40)  # sbpayout_<YYYYMMDD>_<CUR>
    currency = models.CharField(max_length=3)
    day = models.DateField()
    amount = models.BigIntegerField()
    cut_off = models.DateTimeField()  # the payout's creation time at the "processor"
    arrival = models.DateTimeField()
    made_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["merchant_id", "currency", "day"], name="sandbox_payout_day_uniq"),
            models.UniqueConstraint(fields=["merchant_id", "payout_id"], name="sandbox_payout_id_uniq"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="sandbox_payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payout_id} {self.amount} {self.currency}"
