"""Every row lock the payments app takes, in one place (as Saleor's ``lock_objects``).

The contract, which every service keeps by locking only through these helpers:

1. Order of acquisition, always: the payment's **order** (``orders.services.order_lock``), then
   the **payment**, then its **refunds**, then **ledger** rows (the ledger's per-payment advisory
   lock, taken inside ``ledger.services``). A transaction holding a later lock never asks for an
   earlier one, so two services can never wait on each other. Payment methods are locked alone.
2. The payment row is the one serialization point of a payment: its attempts and refunds change
   only while it is locked (their conditional updates run under it), so refunds need no row lock
   of their own and none is taken.
3. Locks are ``FOR NO KEY UPDATE`` of this table's row only (``no_key=True, of=("self",)``): they
   exclude every other writer of the row, but not the inserts of rows that refer to it (attempts,
   refunds, events), which a plain ``FOR UPDATE`` would queue behind the holder.
4. No lock is ever held across a processor call. Step 1 of an operation locks, writes its attempt
   and commits in ``transaction.atomic(durable=True)`` (so nesting it in a caller's transaction,
   which would keep the locks through the call, fails loudly); step 3 locks again.

Each helper must run inside a transaction; the row stays locked until it ends.
"""

from gateway.errors import NotFound, not_found
from gateway.statements import LOCK_FOR_NO_KEY_UPDATE, row_select
from orders.services import order_lock as orders_order_lock

from .models import Payment, PaymentMethod

_FOR_UPDATE = {"no_key": True, "of": ("self",)}


def order_lock(*, merchant_id: str, order_id: str, livemode: bool):
    """First in the order: the merchant's order of this mode (404 ``param="order"`` otherwise)."""
    try:
        return orders_order_lock(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
    except NotFound:
        raise not_found("order", order_id, param="order") from None


def payment_lock(*, payment_id: str, merchant_id: str | None = None, livemode: bool | None = None) -> Payment:
    """Second in the order: the payment (scoped to the merchant and mode when given), or a 404."""
    # The hottest read of a payment's life: its SQL built once (gateway.statements), not per call.
    scope = {"merchant_id": merchant_id, "livemode": livemode}
    where = {"pk": payment_id} | {name: value for name, value in scope.items() if value is not None}
    payment = row_select(Payment, where=where, lock=LOCK_FOR_NO_KEY_UPDATE) if payment_id else None
    if payment is None:
        raise not_found("payment", payment_id)
    return payment


def payment_lock_with_order(*, payment: Payment):
    """The payment's order (if it has one), then the payment: ``(order or None, locked payment)``.

    ``payment`` is a row read earlier (its order never changes); the locked row is read again.
    """
    order = (
        order_lock(merchant_id=payment.merchant_id, order_id=payment.order_id, livemode=payment.livemode)
        if payment.order_id
        else None
    )
    return order, payment_lock(payment_id=payment.id, merchant_id=payment.merchant_id, livemode=payment.livemode)


def payment_method_lock(
    *, merchant_id: str, livemode: bool, customer_id: str, payment_method_id: str
) -> PaymentMethod | None:
    """A customer's saved, not yet detached payment method (locked alone), or None."""
    return (
        PaymentMethod.objects.select_for_update(**_FOR_UPDATE)
        .filter(
            merchant_id=merchant_id,
            livemode=livemode,
            customer_id=customer_id,
            pk=payment_method_id,
            detached_at__isnull=True,
        )
        .first()
    )
