"""Waiting for a condition instead of sleeping: ``wait_until`` returns as soon as the condition
holds, so its deadline can be generous enough for a loaded 2-core CI machine at no cost."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Real worker processes, SMTP and HTTP round trips on a busy machine: minutes, not seconds.
WAIT_SECONDS = 120.0


def wait_until(
    predicate: Callable[[], T], *, timeout: float = WAIT_SECONDS, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {message or predicate}")
        time.sleep(interval)
