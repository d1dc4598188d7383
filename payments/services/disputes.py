"""What a dispute changes on its payment: ``disputed`` and ``amount_disputed`` (the disputes app
owns the disputes; the payment and its order show their effect). Lock order: the payment's order,
the payment, then the dispute (the caller's ``apply``), then the ledger."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from gateway.errors import not_found
from orders.services import order_record_dispute

from ..cache import PAYMENT_CACHE
from ..locks import payment_lock_with_order
from ..models import Payment


@dataclass(frozen=True)
class DisputedPayment:
    id: str
    merchant_id: str
    livemode: bool
    currency: str
    amount_received: int
    amount_refunded: int
    order_id: str | None


@dataclass(frozen=True)
class DisputeEffect:
    disputed: bool
    amount_disputed: int


def payment_dispute_apply(*, payment_id: str, apply: Callable[[DisputedPayment], DisputeEffect]) -> DisputeEffect:
    """Lock the payment's order and the payment, let ``apply`` change the dispute (and post to the
    ledger) and return the payment's new dispute figures, and save them on the payment and, summed
    over the order's payments, on its order (``orders.services.order_record_dispute``), all in one
    transaction."""
    with transaction.atomic():
        seen = Payment.objects.only("id", "merchant_id", "livemode", "order_id").filter(pk=payment_id).first()
        if seen is None:
            raise not_found("payment", payment_id)
        order, payment = payment_lock_with_order(payment=seen)
        effect = apply(
            DisputedPayment(
                id=payment.id,
                merchant_id=payment.merchant_id,
                livemode=payment.livemode,
                currency=payment.currency,
                amount_received=payment.amount_received,
                amount_refunded=payment.amount_refunded,
                order_id=payment.order_id,
            )
        )
        if (payment.disputed, payment.amount_disputed) != (effect.disputed, effect.amount_disputed):
            payment.disputed = effect.disputed
            payment.amount_disputed = effect.amount_disputed
            payment.save(update_fields=["disputed", "amount_disputed", "updated"])
            PAYMENT_CACHE.invalidate(object_id=payment.id)
        if order is not None:
            # The order's lock keeps its other payments' disputes still (they take it first too).
            others = (
                Payment.objects.filter(merchant_id=order.merchant_id, order_id=order.id)
                .exclude(pk=payment.id)
                .aggregate(total=Sum("amount_disputed"))["total"]
            )
            order_record_dispute(order=order, amount_disputed=(others or 0) + effect.amount_disputed)
    return effect
