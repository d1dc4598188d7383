from django.db import models
from django.db.models import F, Q

from gateway.ids import PublicIdField


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FULFILLED = "fulfilled", "Fulfilled"
    CANCELED = "canceled", "Canceled"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


# The order state machine. Anything not listed is an illegal transition (409 order_unexpected_state).
# A refund may be partial (-> partially_refunded, possibly several times) or complete (-> refunded).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELED}),
    OrderStatus.PAID: frozenset({OrderStatus.FULFILLED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}),
    OrderStatus.PARTIALLY_REFUNDED: frozenset({OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

MAX_LINES = 100
# Keeps quantity x unit_amount meaningful; any product above MAX_AMOUNT is refused anyway.
MAX_LINE_QUANTITY = 1_000_000


class Order(models.Model):
    """What a customer pays for. Amounts are minor units of ``currency``.

    ``subtotal`` and ``total`` are computed by the server from the lines; ``amount_paid``,
    ``amount_refunded`` and ``amount_disputed`` are moved only by the payments app through ``orders.services``.
    """

    Status = OrderStatus

    id = PublicIdField(prefix="ord")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    subtotal = models.BigIntegerField(default=0)
    shipping_amount = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    total = models.BigIntegerField()
    amount_paid = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    # What the processors hold back for disputes on this order's payments (open or lost
    # chargebacks), set by payments through ``order_record_dispute``. Not a state: a disputed order
    # keeps its status.
    amount_disputed = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Every merchant-side list is scoped to one mode (test or live).
            models.Index(fields=["merchant", "livemode", "id"], name="order_merchant_mode_id"),
            models.Index(fields=["merchant", "livemode", "status", "id"], name="order_merchant_mode_status_id"),
            models.Index(fields=["merchant", "customer", "id"], name="order_merchant_customer_id"),
        ]
        constraints = [
            # The database refuses what the services would never write, as a last line of defence.
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, shipping_amount__gte=0, tax_amount__gte=0),
                name="order_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("shipping_amount") + F("tax_amount")),
                name="order_total_is_sum",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0, amount_paid__lte=F("total")),
                name="order_amount_paid_within_total",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount_paid")),
                name="order_amount_refunded_within_paid",
            ),
            models.CheckConstraint(
                condition=Q(amount_disputed__gte=0, amount_disputed__lte=F("amount_paid")),
                name="order_amount_disputed_within_paid",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_outstanding(self) -> int:
        """What the customer still has to pay. Refunds do not make an order owed again."""
        if self.status == OrderStatus.CANCELED:
            return 0
        return self.total - self.amount_paid


class OrderLine(models.Model):
    id = PublicIdField(prefix="li")
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=100)
    name = models.CharField(max_length=250)
    quantity = models.PositiveIntegerField()
    unit_amount = models.BigIntegerField()
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "order", "position"], name="order_line_position_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="order_line_unit_amount_non_negative"),
            models.CheckConstraint(condition=Q(amount=F("quantity") * F("unit_amount")), name="order_line_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class NotificationKind(models.TextChoices):
    """One per order event type (``order.<kind>``)."""

    CREATED = "created", "Order created"
    PAID = "paid", "Order paid"
    CANCELED = "canceled", "Order canceled"
    FULFILLED = "fulfilled", "Order fulfilled"
    PARTIALLY_REFUNDED = "partially_refunded", "Order partially refunded"
    REFUNDED = "refunded", "Order refunded"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # attempts exhausted
    SKIPPED = "skipped", "Skipped"  # the customer has no e-mail address


class Notification(models.Model):
    """An e-mail to the customer about an order change, written in the transaction of the change.

    ``data`` is the order's API representation at that moment, so the e-mail describes the change
    it was written for even if it is sent later.
    """

    Kind = NotificationKind
    Status = NotificationStatus

    id = PublicIdField(prefix="ntf")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    recipient = models.EmailField(max_length=254, null=True, blank=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["updated"], condition=Q(status="pending"), name="notification_pending_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} -> {self.status}"
