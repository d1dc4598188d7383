"""Cached API representations of customers (``GET /v1/customers/{id}``, ``GET /v1/me``), in the
gateway's generational cache (``gateway.cache``), and the cached resolution of session tokens.

Every write path calls ``customer_cache_invalidate`` or ``session_cache_invalidate``; the cache
may be down (django-redis ignores errors) and reads then fall back to the database.
"""

from collections.abc import Callable, Iterable
from typing import Any, Literal

from django.core.cache import cache
from django.db import transaction

from gateway.cache import GenerationalCache

Representation = Literal["api", "me"]

# Both representations of a customer share its token: one change invalidates both.
CUSTOMER_CACHE = GenerationalCache(namespace="customer")


def session_cache_key(token_hash: str) -> str:
    return f"cst:{token_hash}"


def customer_cache_invalidate(*, customer_id: str) -> None:
    CUSTOMER_CACHE.invalidate(object_id=customer_id)


def session_cache_invalidate(*, token_hashes: Iterable[str]) -> None:
    """A revocation takes effect now (this transaction's own later reads miss) and again after
    commit (a reader that resolved the token from the old row while we wrote is evicted too)."""
    keys = [session_cache_key(h) for h in token_hashes]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def customer_representation(
    *,
    merchant_id: str,
    customer_id: str,
    representation: Representation,
    load: Callable[[], dict[str, Any]],
    livemode: bool = False,
) -> dict[str, Any]:
    """The cached representation, or ``load()`` (which refuses another merchant's or mode's
    customer with a 404) stored for next time. A hit is only ever served to the merchant and mode
    that stored it: a live key never gets a test customer from the cache, nor the reverse."""
    return CUSTOMER_CACHE.read(
        object_id=customer_id, merchant_id=merchant_id, livemode=livemode, load=load, view=representation
    )
