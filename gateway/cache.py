"""Generational cache of API representations (orders, payments, customers).

A reader takes the object's current token *before* reading the database and stores what it read
under that token. Every change sets a fresh token after its commit. So a reader that read the old
row can only ever store it under a token nobody looks up again: no stale entry survives a change,
whatever the interleaving (a plain delete-on-write leaves that race open).

The owner (merchant and mode) is part of every data key, so a cached object is only ever served
to its own merchant's keys of its own mode (test or live). With Redis down, ``get`` answers None
and reads go to the database (django-redis ignores cache errors).

Tokens are random integers: django-redis stores an int as its digits (anything else pickled), so a
Lua script can build the data key from the token it reads (``gateway.fastread`` reads token and
entry in one round trip). A token of another form (pickled, left by an older release) is simply
never found by such a script: a miss, served by ``read``.
"""

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.db import transaction

from .ids import new_id

T = TypeVar("T")


def _new_token() -> int:
    # 63 random bits: a rotation that drew the token it replaces is not a concern.
    return secrets.randbits(63)


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

    def _data_key(self, object_id: str, token: str | int, *, merchant_id: str, livemode: bool, view: str) -> str:
        # Who may be served the entry (merchant and mode), and which representation of the object.
        owner = f"{merchant_id}:{'live' if livemode else 'test'}"
        return f"{self.namespace}:{object_id}:{view + ':' if view else ''}{owner}:{token}"

    def _token(self, object_id: str) -> str | int | None:
        token = cache.get(self._token_key(object_id))
        if token is None:
            cache.add(self._token_key(object_id), _new_token(), timeout=self._timeout())
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

    def redis_keys(self, *, object_id: str, merchant_id: str, livemode: bool, view: str = "") -> tuple[str, str] | None:
        """The Redis keys a script reads an entry by: the token's key, and the data key without the
        token at its end (the script appends the token it read). None when the cache's key
        function does not end the data key with the token."""
        mark = "\x00token\x00"
        backend = caches["default"]  # ``cache`` itself, looked up once: this runs on every fast read
        data = backend.make_key(self._data_key(object_id, mark, merchant_id=merchant_id, livemode=livemode, view=view))
        if not data.endswith(mark):
            return None
        return backend.make_key(self._token_key(object_id)), data[: -len(mark)]

    def invalidate(self, *, object_id: str) -> None:
        """Call inside the transaction of a change: the new token is set once the change is visible."""

        def rotate() -> None:
            cache.set(self._token_key(object_id), _new_token(), timeout=self._timeout())

        transaction.on_commit(rotate, robust=True)


@dataclass
class _LocalEntry:
    version: str
    loaded_at: float
    value: Any


class ConfigCache:
    """Per-process cache of slow-changing configuration (processor routes and accounts with their
    built connectors, sandbox settings), checked against a version token in Redis on every read.

    A read costs one Redis GET instead of the database queries, and a change is seen by every
    process on its very next read: each writer (a service, or an admin save hook calling one)
    sets a fresh version after its commit (``invalidate``). A reader takes the version *before*
    loading and keeps what it loaded under that version, so a load racing a change is replaced
    on the next read (the same argument as ``GenerationalCache``). Entries also expire after
    ``ttl_seconds``: a bound on a change made behind the services' back (raw SQL). Redis down:
    no version, so every read loads from the database (slower, never stale).

    One version per owner (a merchant): ``part`` names what is cached under it, so any change of
    that owner's configuration reloads all its parts.
    """

    def __init__(self, *, namespace: str, ttl_seconds: float = 300.0):
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self._entries: dict[tuple[str, str], _LocalEntry] = {}
        self._lock = threading.Lock()
        self._thread = threading.local()

    def _version_key(self, owner: str) -> str:
        return f"{self.namespace}:{owner}:version"

    def version(self, owner: str) -> str | None:
        """The owner's current version (created when missing); None when Redis is unavailable."""
        key = self._version_key(owner)
        version = cache.get(key)
        if version is None:
            fresh = new_id("cfg")
            version = fresh if cache.add(key, fresh, timeout=None) else cache.get(key)
        return version

    def get(self, owner: str, part: str, load: Callable[[], T], *, version: str | None = None) -> T:
        """``load()``'s value, from this process's memory while the owner's version is unchanged.

        ``version``: one the caller read itself moments ago (spares the GET); else it is read here.
        """
        pending = self._pending_token(owner)
        if pending is not None:
            # This thread changed the owner's configuration in a transaction not yet committed:
            # what it reads now may still roll back, so it is kept under a version only this
            # uncommitted change has (no other thread, and nothing after a rollback, matches it).
            version = pending
        elif version is None:
            version = self.version(owner)
        if version is None:
            return load()
        entry = self._entries.get((owner, part))
        now = time.monotonic()
        if entry is not None and entry.version == version and now - entry.loaded_at < self.ttl_seconds:
            return entry.value
        value = load()
        with self._lock:
            self._entries[(owner, part)] = _LocalEntry(version=version, loaded_at=now, value=value)
        return value

    def invalidate(self, owner: str) -> None:
        """Call inside the transaction of the change: this process forgets the owner's entries at
        once (so its own next read, even in that transaction, sees the change) and, after the
        commit (at once outside a transaction), a fresh version makes every process reload."""

        def rotate() -> None:
            self._pending().pop(owner, None)
            cache.set(self._version_key(owner), new_id("cfg"), timeout=None)
            self._forget(owner)

        self._forget(owner)
        if transaction.get_connection().in_atomic_block:
            self._pending()[owner] = (f"pending:{new_id('cfg')}", rotate)
        transaction.on_commit(rotate, robust=True)

    def _pending(self) -> dict[str, tuple[str, Callable[[], None]]]:
        pending = getattr(self._thread, "pending", None)
        if pending is None:
            pending = self._thread.pending = {}
        return pending

    def _pending_token(self, owner: str) -> str | None:
        """The version of this thread's uncommitted change of the owner's configuration, if any.

        The change is uncommitted exactly while its commit hook waits on the connection: Django
        drops the hook when the transaction (or the savepoint around the change) rolls back, and
        runs it (which drops the mark) on commit."""
        pending = self._pending()
        mark = pending.get(owner)
        if mark is None:
            return None
        token, rotate = mark
        connection = transaction.get_connection()
        if connection.in_atomic_block and any(hook[1] is rotate for hook in connection.run_on_commit):
            return token
        pending.pop(owner, None)
        return None

    def _forget(self, owner: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == owner]:
                self._entries.pop(key, None)

    def clear_local(self) -> None:
        """Forget this process's entries (tests simulating another process)."""
        with self._lock:
            self._entries.clear()


# Everything a payment's processor call needs of its merchant's configuration: routes, processor
# accounts (and the connectors built from them), the sandbox's settings and fault plan. Every
# service writing one of them calls ``MERCHANT_CONFIG.invalidate(merchant_id)``.
MERCHANT_CONFIG = ConfigCache(namespace="merchant-config", ttl_seconds=300.0)
