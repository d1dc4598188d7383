"""Event types a webhook endpoint may subscribe to (``enabled_events``), or ``"*"`` for all."""

WILDCARD = "*"

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "order.created",
        "order.updated",
        "order.paid",
        "order.canceled",
        "order.fulfilled",
        "order.partially_refunded",
        "order.refunded",
        "payment.created",
        "payment.requires_action",
        "payment.processing",
        "payment.authorized",
        "payment.captured",
        "payment.succeeded",
        "payment.failed",
        "payment.canceled",
        "payment.updated",
        "refund.created",
        "refund.succeeded",
        "refund.failed",
        "refund.updated",
        "dispute.created",
        "dispute.updated",
        "dispute.closed",
        "checkout.session.completed",
        "checkout.session.expired",
        "reconciliation.discrepancy_found",
    }
)
