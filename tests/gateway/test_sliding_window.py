"""Sliding windows (``gateway.ratelimit.window_take``), the limiter of attempts to guess a secret:
in Redis (one Lua script) and in-process for the embedded mode, on an injected clock."""

import uuid

import pytest
from django.core.cache import caches

import gateway.ratelimit
from gateway.ratelimit import WindowLimit, window_take

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "in-process"])
def clock(request, monkeypatch, settings) -> Clock:
    if request.param == "in-process":
        settings.CACHES = LOCMEM
        assert not gateway.ratelimit.uses_redis()
    else:
        assert gateway.ratelimit.uses_redis()
    clock = Clock()
    monkeypatch.setattr(gateway.ratelimit, "clock", clock)
    yield clock
    caches.close_all()


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


@pytest.mark.parametrize(("rate", "limit", "seconds"), [("30/m", 30, 60), ("5/10m", 5, 600), ("100/h", 100, 3600)])
def test_rates_parse(rate, limit, seconds):
    assert WindowLimit.parse("k", rate) == WindowLimit("k", limit, seconds)


@pytest.mark.parametrize("rate", ["30", "x/m", "30/w", "-1/m"])
def test_a_malformed_rate_is_refused(rate):
    with pytest.raises(ValueError):
        WindowLimit.parse("k", rate)


def test_no_window_ever_passes_more_than_the_limit(clock):
    limits = [WindowLimit(_key(), 3, 60)]
    passed_at = []
    # Given an attempt every 7 s for five minutes
    for _ in range(43):
        if window_take(limits=limits) is None:
            passed_at.append(clock.now)
        clock.now += 7

    # Then every 60 s holds at most 3 passed attempts, and the limiter did let attempts through throughout
    assert all(sum(start <= t < start + 60 for t in passed_at) <= 3 for start in passed_at)
    assert len(passed_at) >= 3 * (300 // 60)


def test_an_attempt_passes_only_if_every_limit_has_room_and_counts_in_all(clock):
    ip, email = WindowLimit(_key(), 2, 60), WindowLimit(_key(), 10, 60)
    assert window_take(limits=[ip, email]) is None
    assert window_take(limits=[ip, email]) is None

    refused = window_take(limits=[ip, email])
    other_ip = window_take(limits=[WindowLimit(_key(), 2, 60), email])

    assert refused == 60
    assert other_ip is None  # the refused attempt was not counted against the email: 3 of 10 used
    for _ in range(7):  # the email's 4th to 10th
        assert window_take(limits=[WindowLimit(_key(), 2, 60), email]) is None
    assert window_take(limits=[WindowLimit(_key(), 2, 60), email]) == 60
