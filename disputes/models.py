"""Disputes (chargebacks and inquiries) on payments, as the processors report them.

A dispute belongs to one payment (the disputes app refers to it; payments owns it and shows the
effect: ``disputed``, ``amount_disputed``). It is unique per processor account and the processor's
dispute id, so every webhook redelivery or re-read updates the same row.
"""

from django.db import models

from gateway.ids import PublicIdField

from .state import DISPUTE_STATUSES


class Dispute(models.Model):
    id = PublicIdField(prefix="dp")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="+")
    order_id = models.CharField(max_length=40, blank=True)
    amount = models.BigIntegerField()  # minor units, disputed
    currency = models.CharField(max_length=3)
    fee = models.BigIntegerField(default=0)  # the processor's dispute fee, withdrawn with the amount
    fee_returned = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=64)
    status = models.CharField(max_length=32, choices=[(s, s) for s in DISPUTE_STATUSES])
    processor_status = models.CharField(max_length=64, blank=True)  # the processor's own word
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    processor = models.CharField(max_length=32)
    processor_account_id = models.CharField(max_length=64)
    processor_reference = models.CharField(max_length=255)
    # What the books recorded (disputes.books): each at most once.
    funds_withdrawn_at = models.DateTimeField(null=True, blank=True)
    funds_reinstated_at = models.DateTimeField(null=True, blank=True)
    # Set when the books refused a posting for this dispute (disputes.books): the dispute itself is
    # still recorded as the processor reports it; an operator reconciles the books. Kept until then.
    books_flagged_at = models.DateTimeField(null=True, blank=True)
    books_problem = models.CharField(max_length=500, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "processor_account_id", "processor_reference"], name="dispute_processor_unique"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="dispute_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(fee__gte=0) & models.Q(fee_returned__gte=0), name="dispute_fees_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "livemode", "payment"]),
            models.Index(fields=["merchant", "books_flagged_at"], name="dispute_books_flagged"),
            models.Index(fields=["merchant", "livemode", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.status} {self.amount} {self.currency}"
