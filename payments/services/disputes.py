"""What a dispute changes on its payment: ``disputed`` and ``amount_disputed`` (the disputes app
owns the disputes; the payment shows their effect). Lock order: payment, then the dispute (the
caller's ``apply``), then the ledger."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from ..cache import PAYMENT_CACHE
from ..locks import payment_lock


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
    """Lock the payment, let ``apply`` change the dispute (and post to the ledger) and return the
    payment's new dispute figures, and save them, all in one transaction."""
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
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
    return effect
