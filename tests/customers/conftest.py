import time

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


class LoginClock:
    """The login limiter's clock, moved by the test (no sleeps)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def login_clock(monkeypatch) -> LoginClock:
    """Starts one second before a minute boundary, where a fixed window would reset."""
    import gateway.ratelimit

    clock = LoginClock((int(time.time()) // 60 + 1) * 60 - 1.0)
    monkeypatch.setattr(gateway.ratelimit, "clock", clock)
    return clock


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
