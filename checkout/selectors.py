"""Reads of the checkout app, for its views, its tasks and other apps."""

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from gateway.errors import not_found

from .models import CheckoutSession, SessionStatus, looks_like_session_id


def checkout_session_get(*, merchant_id: str, session_id: str, livemode: bool = False) -> CheckoutSession:
    """The merchant's session of this mode; another merchant's (or mode's) is a 404."""
    session = CheckoutSession.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=session_id).first()
    if session is None:
        raise not_found("checkout_session", session_id)
    return session


def checkout_session_for_page(*, session_id: str) -> CheckoutSession | None:
    """The session a hosted-page URL names (the id is the capability), with its merchant; None
    for anything that is not a well-formed, existing session id (no query for malformed ones)."""
    if not looks_like_session_id(session_id):
        return None
    return CheckoutSession.objects.select_related("merchant").filter(pk=session_id).first()


def checkout_session_list(
    *,
    merchant_id: str,
    livemode: bool = False,
    status: str | None = None,
    customer_id: str | None = None,
    order_id: str | None = None,
    payment_id: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
) -> QuerySet[CheckoutSession]:
    queryset = CheckoutSession.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if status is not None:
        queryset = queryset.filter(status=status)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    if order_id is not None:
        queryset = queryset.filter(order_id=order_id)
    if payment_id is not None:
        queryset = queryset.filter(payment_id=payment_id)
    if created_gte is not None:
        queryset = queryset.filter(created__gte=created_gte)
    if created_lte is not None:
        queryset = queryset.filter(created__lte=created_lte)
    return queryset


def checkout_sessions_due(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Open sessions past their expiry, and open sessions whose payment is still with the
    processor or the customer (an outcome the janitor resolves later completes them)."""
    now = now or timezone.now()
    open_sessions = CheckoutSession.objects.filter(status=SessionStatus.OPEN)
    expired = open_sessions.filter(expires_at__lte=now).order_by("expires_at").values_list("id", flat=True)[:limit]
    pending = open_sessions.filter(payment_pending=True).order_by("updated").values_list("id", flat=True)[:limit]
    return list(dict.fromkeys([*expired, *pending]))[:limit]
