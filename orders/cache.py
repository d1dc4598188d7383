"""Redis cache of order representations with generation tokens.

A reader takes the order's current token *before* reading the database and stores what it read
under that token. Every write sets a fresh token after its commit. So a reader that read the
old row can only ever store it under a token nobody will look up again: no stale entry survives
a change, whatever the interleaving (a plain delete-on-write leaves that race open). With Redis
down, ``get`` answers None and reads go to the database.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from gateway.ids import new_id


def _token_key(order_id: str) -> str:
    return f"order:{order_id}:token"


def _data_key(merchant_id: str, livemode: bool, order_id: str, token: str) -> str:
    # Merchant and mode are part of the key so a cached order is only ever served to its own
    # merchant, and only to keys of its own mode (test or live).
    mode = "live" if livemode else "test"
    return f"order:{order_id}:{merchant_id}:{mode}:{token}"


def order_cache_read(
    *, merchant_id: str, order_id: str, load: Callable[[], dict[str, Any]], livemode: bool = False
) -> dict:
    token = cache.get(_token_key(order_id))
    if token is None:
        cache.add(_token_key(order_id), new_id("tok"), timeout=settings.CACHE_TTL_SECONDS)
        token = cache.get(_token_key(order_id))
    if token is not None:
        cached = cache.get(_data_key(merchant_id, livemode, order_id, token))
        if cached is not None:
            return cached
    data = load()
    if token is not None:
        cache.set(_data_key(merchant_id, livemode, order_id, token), data, timeout=settings.CACHE_TTL_SECONDS)
    return data


def order_cache_invalidate(*, order_id: str) -> None:
    """Call inside the transaction of a change: the new token is set once the change is visible."""

    def rotate() -> None:
        cache.set(_token_key(order_id), new_id("tok"), timeout=settings.CACHE_TTL_SECONDS)

    transaction.on_commit(rotate, robust=True)
