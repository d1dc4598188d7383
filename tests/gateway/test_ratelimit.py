import logging
import time

import pytest

from merchants.models import Merchant
from merchants.services import merchant_update_rate_limit

pytestmark = [pytest.mark.django_db]


def _set_limit(merchant_keys, per_second: float, burst: int) -> None:
    merchant_update_rate_limit(
        merchant=Merchant.objects.get(id=merchant_keys.merchant_id), per_second=per_second, burst=burst
    )


def test_over_the_limit_is_429_with_headers(merchant_keys, secret_client):
    # Given a merchant allowed 3 requests of burst at 0.5 token/s
    _set_limit(merchant_keys, 0.5, 3)
    statuses = [secret_client.get("/v1/account") for _ in range(4)]
    # Then the 4th is refused with advice on when to retry
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in statuses[:3]] == ["2", "1", "0"]
    limited = statuses[3]
    assert limited["RateLimit-Limit"] == "3"
    assert limited["RateLimit-Remaining"] == "0"
    assert int(limited["Retry-After"]) in (1, 2)
    assert int(limited["RateLimit-Reset"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"


def test_bucket_refills_at_the_configured_rate(merchant_keys, secret_client):
    # Given an exhausted bucket refilling at 10 tokens/s
    _set_limit(merchant_keys, 10, 2)
    assert [secret_client.get("/v1/account").status_code for _ in range(3)] == [200, 200, 429]
    # When 0.25 s pass, 2 tokens (capped at the burst) are back, not more
    time.sleep(0.25)
    assert [secret_client.get("/v1/account").status_code for _ in range(3)] == [200, 200, 429]
    # When only ~0.12 s pass, one token is back
    time.sleep(0.12)
    assert [secret_client.get("/v1/account").status_code for _ in range(2)] == [200, 429]


def test_buckets_are_per_key(merchant_keys, other_merchant_keys, secret_client, settings):
    _set_limit(merchant_keys, 0.1, 1)
    assert [secret_client.get("/v1/account").status_code for _ in range(2)] == [200, 429]
    assert other_merchant_keys.client().get("/v1/account").status_code == 200
    # The buckets live in Redis, shared by every app instance
    from django_redis import get_redis_connection

    prefix = settings.CACHES["default"]["KEY_PREFIX"]  # other runs may share this Redis
    assert len(get_redis_connection("default").keys(f"{prefix}:*ratelimit:key:*")) == 2


def test_unauthenticated_requests_are_limited_per_client_ip(api_client, settings):
    settings.RATE_LIMIT_PER_SECOND = 0.1
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
