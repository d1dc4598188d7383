"""Reconciliation with the processors: each run compares one processor account's own record of a
period (its settlement data) with our payments and refunds, and keeps one item per settlement line
or payment that it looked at. Not the books check (``payments/reconciliation.py``), which compares
the gateway with itself.

A run is unique per merchant, mode, processor account and period: a rerun updates the same run and
its items (keyed by ``key``), never duplicates them. An item's resolution (who, when, why) is never
deleted or overwritten by a rerun.
"""

from django.db import models
from django.db.models import Q

from gateway.ids import PublicIdField


class Classification(models.TextChoices):
    MATCHED = "matched", "Matched"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"
    MISSING_IN_GATEWAY = "missing_in_gateway", "Missing in gateway"
    MISSING_AT_PROCESSOR = "missing_at_processor", "Missing at processor"
    DUPLICATE = "duplicate", "Duplicate"
    REFUND_OUTSIDE_GATEWAY = "refund_outside_gateway", "Refund outside gateway"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    # A payout the books refused (e.g. reported for another amount than first posted): an operator
    # looks; the rest of the run is still recorded.
    PAYOUT_REFUSED = "payout_refused", "Payout refused by the books"


# Unresolved items of these classes make ``manage.py reconcile`` exit 1: money moved that we do not
# know of, or for another amount than we booked.
BLOCKING_CLASSIFICATIONS = frozenset(
    {Classification.MISSING_IN_GATEWAY, Classification.AMOUNT_MISMATCH, Classification.PAYOUT_REFUSED}
)


class RunSource(models.TextChoices):
    API = "api", "Processor API"
    FILE = "file", "Settlement file"


class ReconciliationRun(models.Model):
    id = PublicIdField(prefix="rcr")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    processor = models.CharField(max_length=16)
    # A ProcessorAccount id, or "sandbox" (the built-in sandbox has no account row).
    processor_account_id = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()  # exclusive
    source = models.CharField(max_length=8, choices=RunSource.choices, default=RunSource.API)
    source_name = models.CharField(max_length=255, blank=True, default="")  # the --file name
    lines = models.PositiveIntegerField(default=0)  # settlement lines read
    payouts = models.PositiveIntegerField(default=0)
    # Classification -> count of items, as of the last run.
    summary = models.JSONField(default=dict, blank=True)
    runs = models.PositiveIntegerField(default=1)  # how many times this period was reconciled
    created = models.DateTimeField(auto_now_add=True)
    last_run_at = models.DateTimeField()

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "livemode", "processor_account_id", "period_start", "period_end"],
                name="reconciliation_run_unique_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")), name="reconciliation_run_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.processor_account_id} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"


class ReconciliationItem(models.Model):
    id = PublicIdField(prefix="rci")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="items")
    # Stable identity within the run: "line:<settlement line id>" or "payment:<id>" / "refund:<id>".
    key = models.CharField(max_length=160)
    classification = models.CharField(max_length=32, choices=Classification.choices)
    kind = models.CharField(max_length=16)  # charge | refund | payout
    processor_reference = models.CharField(max_length=255, blank=True, default="")
    line_id = models.CharField(max_length=255, blank=True, default="")
    gateway_reference = models.CharField(max_length=255, blank=True, default="")
    payment_id = models.CharField(max_length=40, blank=True, default="")
    refund_id = models.CharField(max_length=40, blank=True, default="")
    # What the processor says (minor units, signed as the settlement line) and what we have.
    processor_amount = models.BigIntegerField(null=True, blank=True)
    processor_currency = models.CharField(max_length=3, blank=True, default="")
    processor_fee = models.BigIntegerField(null=True, blank=True)
    processor_status = models.CharField(max_length=32, blank=True, default="")
    gateway_amount = models.BigIntegerField(null=True, blank=True)
    gateway_currency = models.CharField(max_length=3, blank=True, default="")
    gateway_status = models.CharField(max_length=32, blank=True, default="")
    detail = models.CharField(max_length=500, blank=True, default="")
    occurred_at = models.DateTimeField(null=True, blank=True)
    # Set once when the item is handed to the payments janitor (status_mismatch on a lost outcome).
    handed_to_janitor_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolution_reason = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "run", "key"], name="reconciliation_item_unique_key"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolution_reason="")
                | (Q(resolved_at__isnull=False) & ~Q(resolution_reason="")),
                name="reconciliation_item_resolution_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "classification", "resolved_at"], name="rci_open_by_class"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.classification} {self.processor_reference or self.payment_id}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None
