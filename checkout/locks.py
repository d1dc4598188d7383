"""Every row lock the checkout app takes, in one place.

Lock order (extends the gateway's ``order -> payment -> refund -> ledger``):

    checkout_session -> order -> payment -> refund -> ledger

* The session row is locked first, and only inside a transaction (``select_for_update``).
* While it is held the caller may create the session's payment (``payments.services.payment_create``
  locks the order, then inserts the payment): that is what makes "one payment per session" hold
  when two tabs submit at once, the second waits here and then finds the first one's payment.
* It is never taken by code that already holds an order or payment lock, and it is never held
  across a processor call (``payment_confirm``, ``payment_cancel`` run after the commit), so a
  slow processor never blocks the page, the API or the sweep.
"""

from django.db import transaction

from gateway.errors import not_found

from .models import CheckoutSession


def checkout_session_lock(
    *, session_id: str, merchant_id: str | None = None, livemode: bool | None = None
) -> CheckoutSession:
    """The session row, locked until the caller's transaction ends; 404 if it does not exist
    (or belongs to another merchant or mode, when those are given)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("checkout_session_lock must run inside transaction.atomic()")
    queryset = CheckoutSession.objects.select_for_update().filter(pk=session_id)
    if merchant_id is not None:
        queryset = queryset.filter(merchant_id=merchant_id)
    if livemode is not None:
        queryset = queryset.filter(livemode=livemode)
    session = queryset.first()
    if session is None:
        raise not_found("checkout_session", session_id)
    return session
