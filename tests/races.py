"""Races with real threads: ``run_together`` releases ``count`` threads at once, each on its own
database connection, and waits for all of them with a deadline only a hung thread reaches."""

import threading
from collections.abc import Callable

from django.db import connection

from tests.waiting import WAIT_SECONDS


def run_together(count: int, work: Callable[[int], object]) -> list:
    """Run ``work(i)`` in ``count`` threads released together; return each result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=WAIT_SECONDS)  # starting threads on a busy machine takes a while
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    join_all(threads)
    return results


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), f"threads still running after {WAIT_SECONDS} s"
