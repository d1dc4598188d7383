"""Rate limiting, atomic in Redis (one Lua script each). If Redis is unreachable the request is
allowed and a warning logged: money is protected by idempotency, not by the limiter.

* Token buckets (``bucket_take``) keyed per API key, customer session or client IP: a steady rate
  with bursts, for API traffic.
* Sliding windows (``window_take``) for attempts to guess a secret (logins): no window of the period
  ever passes more than the limit, which a fixed window (counts reset at the minute) cannot promise.
"""

import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches

logger = logging.getLogger("gateway.ratelimit")

# One Lua function taking a token: every script that takes one (this module's, and the cached
# reads' in gateway.fastread) shares it, so a bucket behaves the same whoever takes from it. Uses
# the Redis clock so every app instance shares one notion of time. Returns allowed (0/1), tokens left.
TOKEN_BUCKET_TAKE_LUA = """
local function bucket_take(key, rate, burst)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local data = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(data[1])
  local ts = tonumber(data[2])
  if tokens == nil then
    tokens = burst
    ts = now
  end
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local allowed = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  return allowed, tokens
end
"""

# KEYS[1] bucket; ARGV rate (tokens/s), burst (capacity). Returns {allowed, tokens*1000}.
_TOKEN_BUCKET_LUA = (
    TOKEN_BUCKET_TAKE_LUA
    + """
local allowed, tokens = bucket_take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {allowed, math.floor(tokens * 1000)}
"""
)


@dataclass(frozen=True)
class BucketResult:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


def bucket_parameters(*, rate: float | None, burst: int | None) -> tuple[float, int]:
    """A principal's rate and burst, or the gateway's defaults where it has none (or 0)."""
    return float(rate or settings.RATE_LIMIT_PER_SECOND), int(burst or settings.RATE_LIMIT_BURST)


def bucket_redis_key(key: str) -> str:
    """The Redis key of the bucket named ``key`` (``key:<api key id>``, ``cst:...``, ``ip:...``)."""
    return cache.make_key(f"ratelimit:{key}")


def bucket_result(*, allowed: int, millitokens: int, rate: float, burst: int) -> BucketResult:
    """What a script's ``{allowed, tokens * 1000}`` means for the client."""
    return _result(bool(allowed), int(millitokens) / 1000, rate, burst)


def _result(allowed: bool, tokens: float, rate: float, burst: int) -> BucketResult:
    return BucketResult(
        allowed=allowed,
        limit=burst,
        remaining=max(0, math.floor(tokens)),
        reset_seconds=max(0, math.ceil((burst - tokens) / rate)),
        retry_after_seconds=max(1, math.ceil((1 - tokens) / rate)),
    )


class _LocalBuckets:
    """In-process buckets for the embedded mode, where there is no Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: int) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(burst), now))
            tokens = min(burst, tokens + max(0.0, now - ts) * rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[key] = (tokens, now)
        return allowed, tokens


_local = _LocalBuckets()
_script = None
_last_warning = 0.0


def _redis_take(key: str, rate: float, burst: int) -> tuple[bool, float]:
    global _script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _script is None:
        _script = client.register_script(_TOKEN_BUCKET_LUA)
    allowed, millitokens = _script(keys=[bucket_redis_key(key)], args=[rate, burst], client=client)
    return bool(allowed), int(millitokens) / 1000


def uses_redis(backend=None) -> bool:
    """True when the default cache (or ``backend``, the caller's handle on it) is Redis, shared by
    every instance; the embedded mode has none."""
    return (backend or caches["default"]).__class__.__module__.startswith("django_redis")


def bucket_take(*, key: str, rate: float | None = None, burst: int | None = None) -> BucketResult | None:
    """Take one token. Returns None when the limiter is disabled or its store is down."""
    global _last_warning
    if not settings.RATE_LIMIT_ENABLED:
        return None
    rate, burst = bucket_parameters(rate=rate, burst=burst)
    try:
        allowed, tokens = _redis_take(key, rate, burst) if uses_redis() else _local.take(key, rate, burst)
    except Exception as exc:  # Redis down: fail open, loudly but not once per request
        now = time.monotonic()
        if now - _last_warning > 10:
            _last_warning = now
            logger.warning("rate limiter unavailable, allowing requests", extra={"error": type(exc).__name__})
        return None
    return _result(allowed, tokens, rate, burst)


# --- sliding windows ------------------------------------------------------------------------------

# KEYS: one sorted set per limit (members: passed attempts, scored by time). ARGV: now, then
# (limit, window seconds) per key, then a unique member. An attempt passes only if every limit has
# room, and is then recorded in all of them: a refused attempt is counted nowhere, so no limit can be
# dodged by tripping another one, and a set never holds more than its limit. Returns {allowed,
# milliseconds until the oldest attempt of the fullest refusing window leaves it}.
_SLIDING_WINDOW_LUA = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local until_free = tonumber(oldest[2]) + window - now
    if until_free > wait then wait = until_free end
    if wait <= 0 then wait = 0.001 end
  end
end
if wait > 0 then return {0, math.ceil(wait * 1000)} end
local member = ARGV[2 * #KEYS + 2]
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
end
return {1, 0}
"""

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


def clock() -> float:
    """Wall-clock seconds shared by every instance (tests replace it to move time)."""
    return time.time()


@dataclass(frozen=True)
class WindowLimit:
    key: str
    limit: int
    window_seconds: float

    @classmethod
    def parse(cls, key: str, rate: str) -> "WindowLimit":
        """``"<count>/<period>"``: ``30/m``, ``5/10m``, ``100/h``."""
        match = _RATE.match(rate)
        if match is None:
            raise ValueError(f"invalid rate {rate!r}: expected <count>/<n><s|m|h|d>")
        count, multiple, unit = match.groups()
        return cls(key=key, limit=int(count), window_seconds=int(multiple or 1) * _PERIOD_SECONDS[unit])


class _LocalWindows:
    """In-process sliding windows for the embedded mode, where there is no Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}

    def take(self, limits: list[WindowLimit], now: float) -> float:
        with self._lock:
            wait = 0.0
            for limit in limits:
                passed = self._windows.setdefault(limit.key, deque())
                while passed and passed[0] <= now - limit.window_seconds:
                    passed.popleft()
                if len(passed) >= limit.limit:
                    wait = max(wait, passed[0] + limit.window_seconds - now, 0.001)
            if wait == 0:
                for limit in limits:
                    self._windows[limit.key].append(now)
            return wait


_local_windows = _LocalWindows()
_window_script = None


def _redis_window_take(limits: list[WindowLimit], now: float) -> float:
    global _window_script
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    if _window_script is None:
        _window_script = client.register_script(_SLIDING_WINDOW_LUA)
    args: list = [repr(now)]
    for limit in limits:
        args += [limit.limit, limit.window_seconds]
    args.append(f"{now!r}:{secrets.token_hex(8)}")
    keys = [cache.make_key(f"ratelimit:window:{limit.key}") for limit in limits]
    allowed, wait_ms = _window_script(keys=keys, args=args, client=client)
    return 0.0 if allowed else int(wait_ms) / 1000


def window_take(*, limits: list[WindowLimit], fail_open: bool = True) -> int | None:
    """Record one attempt against every limit if all have room: None when it passes, else the whole
    seconds until it would pass. When the store is down: None if ``fail_open``, else refused."""
    global _last_warning
    now = clock()
    try:
        wait = _redis_window_take(limits, now) if uses_redis() else _local_windows.take(limits, now)
    except Exception as exc:  # Redis down
        if time.monotonic() - _last_warning > 10:
            _last_warning = time.monotonic()
            logger.warning("rate limiter unavailable", extra={"error": type(exc).__name__, "allowing": fail_open})
        return None if fail_open else max(1, math.ceil(max(limit.window_seconds for limit in limits)))
    return None if wait <= 0 else max(1, math.ceil(wait))
