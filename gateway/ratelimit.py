"""Token-bucket rate limiting, atomic in Redis (one Lua script), keyed per API key, customer
session or client IP. If Redis is unreachable the request is allowed and a warning logged:
money is protected by idempotency, not by the limiter."""

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches

logger = logging.getLogger("gateway.ratelimit")

# KEYS[1] bucket; ARGV rate (tokens/s), burst (capacity). Uses the Redis clock so every
# app instance shares one notion of time. Returns {allowed, tokens*1000}.
_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
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
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens * 1000)}
"""


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
    allowed, millitokens = _script(keys=[cache.make_key(f"ratelimit:{key}")], args=[rate, burst], client=client)
    return bool(allowed), int(millitokens) / 1000


def _uses_redis() -> bool:
    return caches["default"].__class__.__module__.startswith("django_redis")


def bucket_take(*, key: str, rate: float | None = None, burst: int | None = None) -> BucketResult | None:
    """Take one token. Returns None when the limiter is disabled or its store is down."""
    global _last_warning
    if not settings.RATE_LIMIT_ENABLED:
        return None
    rate = float(rate or settings.RATE_LIMIT_PER_SECOND)
    burst = int(burst or settings.RATE_LIMIT_BURST)
    try:
        allowed, tokens = _redis_take(key, rate, burst) if _uses_redis() else _local.take(key, rate, burst)
    except Exception as exc:  # Redis down: fail open, loudly but not once per request
        now = time.monotonic()
        if now - _last_warning > 10:
            _last_warning = now
            logger.warning("rate limiter unavailable, allowing requests", extra={"error": type(exc).__name__})
        return None
    return _result(allowed, tokens, rate, burst)
