"""Reads of the customers app, for its views and for other apps."""

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from gateway.errors import not_found
from gateway.principal import Principal

from .cache import session_cache_key
from .models import Customer, CustomerSession
from .tokens import session_token_hash, session_token_merchant


def customer_get(*, merchant_id: str, customer_id: str, livemode: bool = False) -> Customer:
    """The merchant's customer in this mode, erased ones included (check ``is_erased``).

    Another merchant's customer, or one of the other mode (test/live), is a 404.
    """
    customer = Customer.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=customer_id).first()
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


def customer_contact(*, customer_id: str) -> tuple[str | None, str]:
    """(email, name) for notifications; email is None once the customer's data is erased."""
    row = Customer.objects.filter(pk=customer_id).values_list("email", "name").first()
    if row is None:
        raise not_found("customer", customer_id)
    return row


def customer_list(*, merchant_id: str, livemode: bool = False, email: str | None = None) -> QuerySet[Customer]:
    """The merchant's customers of this mode that are not erased; ``email`` matches case-insensitively."""
    queryset = Customer.objects.filter(merchant_id=merchant_id, livemode=livemode, erased_at__isnull=True)
    if email:
        queryset = queryset.alias(email_lower=Lower("email")).filter(email_lower=email.strip().lower())
    return queryset


def _principal_from(data: dict) -> Principal:
    return Principal(
        kind="customer",
        merchant_id=data["merchant_id"],
        livemode=data["livemode"],
        customer_id=data["customer_id"],
        session_id=data["session_id"],
    )


def principal_for_session_token(*, raw_token: str) -> Principal | None:
    """Resolve a ``cst_`` token to a customer principal; None when unknown, revoked or expired.

    One indexed lookup by hash; the answer is cached briefly (never past the expiry) and
    revocation deletes the cached entry.
    """
    token_hash = session_token_hash(raw_token)
    key = session_cache_key(token_hash)
    now = timezone.now()
    cached = cache.get(key)
    if isinstance(cached, dict) and cached["expires_at"] > now.timestamp():
        return _principal_from(cached)
    sessions = CustomerSession.objects.filter(
        token_hash=token_hash, revoked_at__isnull=True, expires_at__gt=now, merchant__is_active=True
    )
    merchant_id = session_token_merchant(raw_token)
    if merchant_id is not None:
        sessions = sessions.filter(merchant_id=merchant_id)
    row = sessions.values("id", "merchant_id", "customer_id", "livemode", "expires_at").first()
    if row is None:
        return None
    expires_at: datetime = row["expires_at"]
    data = {
        "merchant_id": row["merchant_id"],
        "customer_id": row["customer_id"],
        "session_id": row["id"],
        "livemode": row["livemode"],
        "expires_at": expires_at.timestamp(),
    }
    timeout = min(settings.CUSTOMER_SESSION_CACHE_SECONDS, int((expires_at - now).total_seconds()))
    if timeout > 0:
        cache.set(key, data, timeout=timeout)
    return _principal_from(data)
