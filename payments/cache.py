"""Redis cache of payment representations (GET /v1/payments/{id}) with generation tokens.

The same scheme as ``orders.cache``: a reader takes the payment's current token *before* reading
the database and stores what it read under that token; every change sets a fresh token after its
commit. A reader that raced a change can only store the old row under a token nobody looks up
again, so no stale entry survives a change. With Redis down, reads go to the database.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from gateway.ids import new_id


def _token_key(payment_id: str) -> str:
    return f"payment:{payment_id}:token"


def _data_key(merchant_id: str, livemode: bool, payment_id: str, token: str) -> str:
    # Merchant and mode are part of the key: a cached payment is only ever served to its merchant's
    # keys of its own mode.
    return f"payment:{payment_id}:{merchant_id}:{'live' if livemode else 'test'}:{token}"


def payment_cache_read(
    *, merchant_id: str, payment_id: str, load: Callable[[], dict[str, Any]], livemode: bool = False
) -> dict[str, Any]:
    timeout = settings.PAYMENTS_CACHE_SECONDS
    token = cache.get(_token_key(payment_id))
    if token is None:
        cache.add(_token_key(payment_id), new_id("tok"), timeout=timeout)
        token = cache.get(_token_key(payment_id))
    if token is not None:
        cached = cache.get(_data_key(merchant_id, livemode, payment_id, token))
        if cached is not None:
            return cached
    data = load()
    if token is not None:
        cache.set(_data_key(merchant_id, livemode, payment_id, token), data, timeout=timeout)
    return data


def payment_cache_invalidate(*, payment_id: str) -> None:
    """Call inside the transaction of a change: the new token is set once the change is visible."""

    def rotate() -> None:
        cache.set(_token_key(payment_id), new_id("tok"), timeout=settings.PAYMENTS_CACHE_SECONDS)

    transaction.on_commit(rotate, robust=True)
