"""Token buckets in Redis, through the API.

The Lua script reads Redis TIME, which a test cannot inject. So every limit here refills so
slowly (one token per 1000 s) that the test's own run time, however stretched by load, adds
no token; where time must pass, the test moves the bucket's clock (its ``ts`` field) back.
"""

import logging
import time

import pytest
from django_redis import get_redis_connection

from merchants.models import Merchant
from merchants.services import merchant_update_rate_limit

pytestmark = [pytest.mark.django_db]

SLOW = 0.001  # tokens per second: one per 1000 s, more than pytest's 300 s timeout


def _set_limit(merchant_keys, per_second: float, burst: int) -> None:
    merchant_update_rate_limit(
        merchant=Merchant.objects.get(id=merchant_keys.merchant_id), per_second=per_second, burst=burst
    )


def _api_key_buckets(settings) -> list[bytes]:
    prefix = settings.CACHES["default"]["KEY_PREFIX"]  # other runs may share this Redis
    return get_redis_connection("default").keys(f"{prefix}:*ratelimit:key:*")


def _let_time_pass(settings, seconds: float) -> None:
    """As if ``seconds`` had passed since the bucket's last request: its timestamp moves back."""
    [bucket] = _api_key_buckets(settings)
    redis = get_redis_connection("default")
    redis.hset(bucket, "ts", repr(float(redis.hget(bucket, "ts")) - seconds))


def test_over_the_limit_is_429_with_headers(merchant_keys, secret_client):
    # Given a merchant allowed 3 requests of burst, refilling one token per 1000 s
    _set_limit(merchant_keys, SLOW, 3)
    started = time.monotonic()
    statuses = [secret_client.get("/v1/account") for _ in range(4)]
    elapsed = time.monotonic() - started  # at least what Redis saw between the 1st and the 4th
    # Then the 4th is refused with advice on when to retry
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in statuses[:3]] == ["2", "1", "0"]
    limited = statuses[3]
    assert limited["RateLimit-Limit"] == "3"
    assert limited["RateLimit-Remaining"] == "0"
    # one token takes 1000 s, minus the little that refilled meanwhile; the whole bucket 3000 s
    assert 1000 - elapsed <= int(limited["Retry-After"]) <= 1000
    assert 3000 - elapsed <= int(limited["RateLimit-Reset"]) <= 3000
    assert limited.json()["error"]["type"] == "rate_limit_error"


def test_bucket_refills_at_the_configured_rate(merchant_keys, secret_client, settings):
    def statuses(count: int) -> list[int]:
        return [secret_client.get("/v1/account").status_code for _ in range(count)]

    # Given an exhausted bucket of 2 refilling one token per 1000 s
    _set_limit(merchant_keys, SLOW, 2)
    assert statuses(3) == [200, 200, 429]
    # When 3500 s pass, 3.5 tokens are due: capped at the burst, 2 are back, not more
    _let_time_pass(settings, 3500)
    assert statuses(3) == [200, 200, 429]
    # When 500 s pass, half a token is back: still refused
    _let_time_pass(settings, 500)
    assert statuses(1) == [429]
    # When 700 s more pass (1.2 tokens since the bucket was empty), exactly one is back
    _let_time_pass(settings, 700)
    assert statuses(2) == [200, 429]


def test_buckets_are_per_key(merchant_keys, other_merchant_keys, secret_client, settings):
    _set_limit(merchant_keys, SLOW, 1)
    assert [secret_client.get("/v1/account").status_code for _ in range(2)] == [200, 429]
    assert other_merchant_keys.client().get("/v1/account").status_code == 200
    # The buckets live in Redis, shared by every app instance
    assert len(_api_key_buckets(settings)) == 2


def test_unauthenticated_requests_are_limited_per_client_ip(api_client, settings):
    settings.RATE_LIMIT_PER_SECOND = SLOW
    settings.RATE_LIMIT_BURST = 2
    responses = [api_client.get("/v1/account", HTTP_AUTHORIZATION="Bearer sk_test_guess") for _ in range(3)]
    assert [r.status_code for r in responses] == [401, 401, 429]
    other_ip = api_client.get("/v1/account", REMOTE_ADDR="127.0.0.9")
    assert other_ip.status_code == 401


def test_redis_down_allows_requests_and_warns(merchant_keys, settings, caplog):
    # Given the cache/limiter store on a dead port
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
        }
    }
    import gateway.ratelimit as ratelimit

    ratelimit._script = None
    ratelimit._last_warning = 0.0
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
            response = merchant_keys.client().get("/v1/account")
        # Then the request is served and a warning logged
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response
        assert any("rate limiter unavailable" in r.getMessage() for r in caplog.records)
    finally:
        ratelimit._script = None
