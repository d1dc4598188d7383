"""Generational cache of API representations (orders, payments, customers).

A reader takes the object's current token *before* reading the database and stores what it read
under that token. Every change sets a fresh token after its commit. So a reader that read the old
row can only ever store it under a token nobody looks up again: no stale entry survives a change,
whatever the interleaving (a plain delete-on-write leaves that race open).

The owner (merchant and mode) is part of every data key, so a cached object is only ever served
to its own merchant's keys of its own mode (test or live). With Redis down, ``get`` answers None
and reads go to the database (django-redis ignores cache errors).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .ids import new_id

T = TypeVar("T")


@dataclass(frozen=True)
class GenerationalCache:
    """One kind of object: ``namespace`` prefixes its keys, ``timeout_setting`` names the Django
    setting holding the entries' lifetime in seconds (read at call time)."""

    namespace: str
    timeout_setting: str = "CACHE_TTL_SECONDS"

    def _timeout(self) -> int:
        return getattr(settings, self.timeout_setting)

    def _token_key(self, object_id: str) -> str:
        return f"{self.namespace}:{object_id}:token"

    def _data_key(self, object_id: str, token: str, *, merchant_id: str, livemode: bool, view: str) -> str:
        # Who may be served the entry (merchant and mode), and which representation of the object.
        owner = f"{merchant_id}:{'live' if livemode else 'test'}"
        return f"{self.namespace}:{object_id}:{view + ':' if view else ''}{owner}:{token}"

    def _token(self, object_id: str) -> str | None:
        token = cache.get(self._token_key(object_id))
        if token is None:
            cache.add(self._token_key(object_id), new_id("tok"), timeout=self._timeout())
            token = cache.get(self._token_key(object_id))
        return token

    def read(self, *, object_id: str, merchant_id: str, livemode: bool, load: Callable[[], T], view: str = "") -> T:
        """The cached representation, or ``load()`` stored under the token read before it.

        ``load`` must itself refuse another merchant's or mode's object (a 404): a miss is served
        by it, a hit only ever to the merchant and mode that stored it.
        """
        token = self._token(object_id)
        if token is None:
            return load()
        key = self._data_key(object_id, token, merchant_id=merchant_id, livemode=livemode, view=view)
        cached = cache.get(key)
        if cached is not None:
            return cached
        data = load()
        cache.set(key, data, timeout=self._timeout())
        return data

    def cached(self, *, object_id: str, merchant_id: str, livemode: bool, view: str = "") -> Any:
        """What a read would be served from the cache right now, or None (operators and tests)."""
        token = cache.get(self._token_key(object_id))
        if token is None:
            return None
        return cache.get(self._data_key(object_id, token, merchant_id=merchant_id, livemode=livemode, view=view))

    def invalidate(self, *, object_id: str) -> None:
        """Call inside the transaction of a change: the new token is set once the change is visible."""

        def rotate() -> None:
            cache.set(self._token_key(object_id), new_id("tok"), timeout=self._timeout())

        transaction.on_commit(rotate, robust=True)
