"""Cached API representations of customers (``GET /v1/customers/{id}``, ``GET /v1/me``) and of
resolved session tokens. Every write path calls ``customer_cache_invalidate`` or
``session_cache_invalidate``; the cache may be down (django-redis ignores errors) and reads then
fall back to the database."""

from collections.abc import Callable, Iterable
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from gateway.errors import not_found

Representation = Literal["api", "me"]
_REPRESENTATIONS: tuple[Representation, ...] = ("api", "me")


def customer_cache_key(customer_id: str, representation: Representation) -> str:
    return f"customer:{customer_id}:{representation}"


def session_cache_key(token_hash: str) -> str:
    return f"cst:{token_hash}"


def _delete_now_and_after_commit(keys: list[str]) -> None:
    # Now, so this transaction's own later reads miss; after commit, so a reader that filled the
    # cache from the old row while we were writing is evicted too.
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def customer_cache_invalidate(*, customer_id: str) -> None:
    _delete_now_and_after_commit([customer_cache_key(customer_id, r) for r in _REPRESENTATIONS])


def session_cache_invalidate(*, token_hashes: Iterable[str]) -> None:
    _delete_now_and_after_commit([session_cache_key(h) for h in token_hashes])


def customer_representation(
    *,
    merchant_id: str,
    customer_id: str,
    representation: Representation,
    build: Callable[[], tuple[str, bool, dict[str, Any]]],
    livemode: bool = False,
) -> dict[str, Any]:
    """The cached representation, or ``build()`` -> (merchant_id, livemode, data) stored for next time.

    The owning merchant and mode are cached with the data so a hit is checked for tenancy and
    mode like a miss: a live key never gets a test customer from the cache, nor the reverse.
    """
    key = customer_cache_key(customer_id, representation)
    cached = cache.get(key)
    if not isinstance(cached, dict) or "livemode" not in cached:  # entries from before modes were cached
        owner, owner_livemode, data = build()
        cached = {"merchant_id": owner, "livemode": owner_livemode, "data": data}
        cache.set(key, cached, timeout=settings.CACHE_TTL_SECONDS)
    if cached["merchant_id"] != merchant_id or cached["livemode"] != livemode:
        raise not_found("customer", customer_id)
    return cached["data"]
