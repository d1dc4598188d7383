"""Circuit breakers (pybreaker) per processor account, with their state in Redis so every gunicorn
worker and Celery worker sees the same breaker, and the connector wrapper that applies them.

* Only transport failures count (``processors.http.TRANSPORT_ERROR_CODES``: unreachable,
  timeouts, dropped connections, 5xx, 429, refused credentials). A decline, a validation error
  or a not-found is the processor working normally and resets the failure count.
* Open: the call is not made; the result is FAILED ``circuit_open`` (provably nothing moved, so
  the payments app may fall back to the next route entry).
* A breaker object is built per call: pybreaker holds its lock for the whole guarded call, so a
  shared instance would serialise every call to one account within a process. All state lives in
  Redis, so a fresh object loses nothing, and it only notifies listeners of transitions that
  happen during its own call (no duplicate "noticed elsewhere" events).
* Its storage (``SnapshotRedisStorage``) reads the breaker's state, failure count and opening
  time in one MGET when the call begins and serves pybreaker's repeated reads from that snapshot;
  writes go to Redis at once (INCR's answer updates the snapshot). A closed breaker with no
  failures costs one Redis command per call (pybreaker's own storage: six).
* Redis down: the breaker fails open (calls go through, process-local counting), with a warning.
"""

import calendar
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pybreaker
from django.conf import settings
from django.db import DatabaseError, transaction
from redis.exceptions import RedisError

from .base import (
    AuthorizeRequest,
    Connector,
    DisputeInfo,
    Outcome,
    ProcessorResult,
    SettlementPayout,
    SettlementReport,
    WebhookEvent,
)
from .http import is_transport_failure

logger = logging.getLogger("processors.breakers")

CIRCUIT_OPEN = "circuit_open"
_memory_storages: dict[str, pybreaker.CircuitMemoryStorage] = {}
_memory_lock = threading.Lock()


class _TransportFailure(Exception):
    """Carries a FAILED/UNKNOWN transport result through pybreaker so it counts as a failure."""

    def __init__(self, result: ProcessorResult):
        super().__init__(result.error_code)
        self.result = result


class BreakerEventListener(pybreaker.CircuitBreakerListener):
    def __init__(self, merchant_id: str):
        self.merchant_id = merchant_id

    def state_change(self, cb, old_state, new_state) -> None:
        old_name = old_state.name if old_state is not None else ""
        logger.warning(
            "circuit breaker state change",
            extra={"breaker": cb.name, "old_state": old_name, "new_state": new_state.name},
        )
        from .models import BreakerEvent

        try:
            with transaction.atomic():
                BreakerEvent.objects.create(
                    breaker=cb.name, merchant_id=self.merchant_id, old_state=old_name, new_state=new_state.name
                )
        except DatabaseError:
            logger.exception("could not record breaker event", extra={"breaker": cb.name})


def _namespace(name: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "gw")
    return f"{prefix}:breaker:{name}"


_redis_client = None


def _redis():
    """The process's Redis client (django-redis's pool), looked up once."""
    global _redis_client
    if _redis_client is None:
        from django_redis import get_redis_connection

        _redis_client = get_redis_connection("default")
    return _redis_client


class SnapshotRedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, read once per call: one MGET of state, failure count and opening
    time when built (no SETNX: a missing key is a closed breaker with no failures, pybreaker's own
    fallback), the reads pybreaker repeats during the call answered from it, writes sent at once.
    Built per call, like the breaker that uses it."""

    def __init__(self, redis_object, *, namespace: str):
        pybreaker.CircuitBreakerStorage.__init__(self, "redis")
        self._redis = redis_object
        self._namespace_name = namespace
        self._fallback_circuit_state = pybreaker.STATE_CLOSED
        self._initial_state = pybreaker.STATE_CLOSED
        self._cluster_mode = False
        state, counter, opened_at = redis_object.mget(
            [self._namespace("state"), self._namespace("fail_counter"), self._namespace("opened_at")]
        )
        self._state = state.decode() if state else pybreaker.STATE_CLOSED
        self._counter = int(counter or 0)
        self._opened_at = int(opened_at) if opened_at else None

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        pybreaker.CircuitRedisStorage.state.fset(self, state)
        self._state = str(state)

    def increment_counter(self) -> None:
        try:
            self._counter = int(self._redis.incr(self._namespace("fail_counter")))
        except RedisError:
            logger.exception("breaker failure count not recorded")
            self._counter += 1

    def reset_counter(self) -> None:
        # The common case (a success with no failure on record) writes nothing.
        if self._counter:
            super().reset_counter()
            self._counter = 0

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def opened_at(self):
        if self._opened_at is None:
            return None
        return datetime(*time.gmtime(self._opened_at)[:6], tzinfo=UTC)

    @opened_at.setter
    def opened_at(self, now) -> None:
        pybreaker.CircuitRedisStorage.opened_at.fset(self, now)
        self._opened_at = int(calendar.timegm(now.timetuple()))


def breaker_storage(name: str) -> pybreaker.CircuitBreakerStorage:
    try:
        return SnapshotRedisStorage(_redis(), namespace=_namespace(name))
    except Exception:  # no Redis cache configured (embedded mode) or Redis unreachable: fail open
        logger.warning("breaker state not shared (Redis unavailable)", extra={"breaker": name})
        with _memory_lock:
            return _memory_storages.setdefault(name, pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED))


def breaker_build(*, name: str, merchant_id: str, fail_max: int, reset_timeout: float) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        state_storage=breaker_storage(name),
        listeners=[BreakerEventListener(merchant_id)],
        name=name,
        # The call that trips the breaker was made: its own (possibly ambiguous) result must
        # reach the caller, never a "circuit open" that would invite a fallback.
        throw_new_error_on_trip=False,
    )


def breaker_state(name: str) -> dict[str, Any]:
    """The live state of one breaker, for admin."""
    storage = breaker_storage(name)
    opened_at = storage.opened_at
    return {
        "state": storage.state,
        "fail_counter": storage.counter,
        "opened_at": opened_at.isoformat() if opened_at else None,
    }


def breaker_reset(*, name: str, merchant_id: str = "") -> None:
    """Close a breaker by hand (operator action); recorded like any other state change."""
    breaker = breaker_build(name=name, merchant_id=merchant_id, fail_max=1, reset_timeout=1)
    if breaker.current_state != pybreaker.STATE_CLOSED:
        breaker.close()


class GuardedConnector(Connector):
    """Wraps a connector: circuit breaker around every processor call, latency measured."""

    def __init__(
        self,
        inner: Connector,
        *,
        breaker_name: str,
        merchant_id: str,
        fail_max: int | None = None,
        reset_timeout: float | None = None,
        enabled: bool | None = None,
    ):
        """``fail_max``, ``reset_timeout``, ``enabled``: None reads the process settings at each call
        (an instance is kept for the life of the process)."""
        super().__init__(account_id=inner.account_id, config=inner.config)
        self.inner = inner
        self.name = inner.name
        self.breaker_name = breaker_name
        self.merchant_id = merchant_id
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.enabled = enabled

    def __repr__(self) -> str:
        return f"GuardedConnector({self.name}, {self.account_id})"

    @staticmethod
    def _counted(call: Callable[[], ProcessorResult]) -> ProcessorResult:
        result = call()
        if is_transport_failure(result):
            raise _TransportFailure(result)
        return result

    def _guard(self, call: Callable[[], ProcessorResult]) -> ProcessorResult:
        started = time.monotonic()
        enabled = settings.PROCESSOR_BREAKER_ENABLED if self.enabled is None else self.enabled
        if not enabled:
            result = call()
        else:
            breaker = breaker_build(
                name=self.breaker_name,
                merchant_id=self.merchant_id,
                fail_max=self.fail_max or settings.PROCESSOR_BREAKER_FAIL_MAX,
                reset_timeout=self.reset_timeout or settings.PROCESSOR_BREAKER_RESET_TIMEOUT,
            )
            try:
                result = breaker.call(self._counted, call)
            except _TransportFailure as failure:
                result = failure.result
            except pybreaker.CircuitBreakerError:
                return ProcessorResult(
                    outcome=Outcome.FAILED,
                    error_code=CIRCUIT_OPEN,
                    message=f"{self.name} account {self.account_id} is unavailable (circuit open); not called",
                    latency_ms=0,
                )
        return replace(result, latency_ms=int((time.monotonic() - started) * 1000))

    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        return self._guard(lambda: self.inner.authorize(request))

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        return self._guard(
            lambda: self.inner.complete(reference=reference, processor_reference=processor_reference, capture=capture)
        )

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._guard(
            lambda: self.inner.capture(
                reference=reference, processor_reference=processor_reference, amount=amount, currency=currency
            )
        )

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        return self._guard(lambda: self.inner.void(reference=reference, processor_reference=processor_reference))

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._guard(
            lambda: self.inner.refund(
                reference=reference, processor_reference=processor_reference, amount=amount, currency=currency
            )
        )

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        return self._guard(lambda: self.inner.status(reference=reference, processor_reference=processor_reference))

    def refund_status(
        self,
        *,
        reference: str,
        processor_refund_reference: str | None,
        processor_reference: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> ProcessorResult:
        return self._guard(
            lambda: self.inner.refund_status(
                reference=reference,
                processor_refund_reference=processor_refund_reference,
                processor_reference=processor_reference,
                amount=amount,
                currency=currency,
            )
        )

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        return self.inner.parse_webhook(headers=headers, body=body)

    def dispute(self, *, processor_dispute_reference: str) -> DisputeInfo:
        # A read that moves no money, asked again until it answers: outside the breaker, whose
        # results are ProcessorResults (a failure raises DisputeLookupError, retried by the task).
        return self.inner.dispute(processor_dispute_reference=processor_dispute_reference)

    def settlement_report(self, *, start: datetime, end: datetime) -> SettlementReport:
        # Read-only reporting: not counted by the payments breaker (a slow report must not open it).
        return self.inner.settlement_report(start=start, end=end)

    def payout(self, *, payout_id: str, created: datetime | None = None) -> SettlementPayout:
        # Read-only reporting, like settlement_report: outside the payments breaker.
        return self.inner.payout(payout_id=payout_id, created=created)

    def __getattr__(self, item: str) -> Any:
        # Connector-specific helpers (e.g. the sandbox's) stay reachable through the wrapper.
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(item)
        return getattr(inner, item)
