import time
from types import SimpleNamespace

import pytest
from django.core.cache import caches

from tests.customers.helpers import DEFAULT_PASSWORD

DEAD_REDIS_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Nothing listens on port 1 of the loopback: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "KEY_PREFIX": "gw",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def relaxed_login_limits(settings):
    """Rate limits out of the way, for tests about the lockout itself."""
    settings.CUSTOMER_LOGIN_RATE_PER_IP = "1000/m"
    settings.CUSTOMER_LOGIN_RATE_PER_EMAIL = "1000/m"
    return settings


@pytest.fixture
def frozen_login_window(monkeypatch):
    """django-ratelimit counts in fixed windows of wall-clock time: a test whose attempts straddle
    a window's end (the longer it runs on a busy machine, the likelier) starts a fresh count.
    Its clock is frozen here, so every attempt of the test falls in one window."""
    import django_ratelimit.core

    now = int(time.time())
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: now))
    return now


@pytest.fixture
def redis_down(settings):
    """The cache points at a dead Redis for the rest of the test (settings are restored after)."""
    settings.CACHES = DEAD_REDIS_CACHES  # the setting_changed signal resets django.core.cache.caches
    probe = caches["default"]
    probe.set("probe", 1)
    assert probe.get("probe") is None  # a live Redis would have answered 1
    yield
    caches.close_all()


def login(client, *, email: str, password: str, **extra):
    return client.post("/v1/auth/login", {"email": email, "password": password}, format="json", **extra)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]
