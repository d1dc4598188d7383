"""Attempts and processor calls: the rows that make a processor call recoverable, the one way a
call is made, and the schedule of the status queries that resolve an unknown outcome."""

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from processors.base import Connector, Outcome, ProcessorResult
from processors.selectors import connector_for_account

from ..models import AttemptStatus, CaptureMethod, Payment, PaymentAttempt
from ..outcomes import Resolution, status_read_weighed

logger = logging.getLogger("payments")


def inflight_deadline() -> datetime:
    """When a call still ``started`` is presumed lost (its process died) and the janitor asks."""
    return timezone.now() + timedelta(seconds=settings.PAYMENTS_INFLIGHT_TIMEOUT_SECONDS)


def attempt_new(
    payment: Payment, *, operation: str, account_id: str, processor: str, amount: int, processor_reference: str = ""
) -> PaymentAttempt:
    """An unsaved attempt; ``origin_status`` is the payment's status before the operation."""
    return PaymentAttempt(
        merchant_id=payment.merchant_id,
        payment=payment,
        operation=operation,
        origin_status=payment.status,
        processor=processor,
        processor_account_id=account_id,
        processor_reference=processor_reference,
        amount=amount,
        status=AttemptStatus.STARTED,
        next_sync_at=inflight_deadline(),
    )


def connector_for(*, merchant_id: str, account_id: str) -> Connector | None:
    """The account's connector, or None when it cannot be built (account gone, credentials no
    longer decryptable after a key rotation...): a call is then not made, a status read is
    inconclusive, and either way the attempt keeps its schedule instead of the error escaping."""
    try:
        return connector_for_account(merchant_id=merchant_id, account_id=account_id)
    except LookupError:
        logger.error("processor account not found", extra={"processor_account_id": account_id})
    except Exception:
        logger.exception("processor connector could not be built", extra={"processor_account_id": account_id})
    return None


def processor_call(
    reference: str, connector: Connector | None, call: Callable[[Connector], ProcessorResult]
) -> ProcessorResult:
    """One connector call. A missing account is "not processed"; an exception (a connector bug)
    is an unknown outcome, since the request may have reached the processor."""
    if connector is None:
        return ProcessorResult(
            outcome=Outcome.FAILED, error_code="processor_account_missing", message="The processor account is gone."
        )
    started = time.monotonic()
    try:
        result = call(connector)
    except Exception:
        logger.exception("processor call raised; outcome unknown", extra={"reference": reference})
        result = ProcessorResult(
            outcome=Outcome.UNKNOWN, error_code="connector_error", message="The processor call failed unexpectedly."
        )
    if result.latency_ms is None:
        result = replace(result, latency_ms=int((time.monotonic() - started) * 1000))
    return result


def complete_call(*, payment: Payment, attempt: PaymentAttempt, connector: Connector | None) -> ProcessorResult:
    """Finish a redirect flow (3-D Secure, PayPal) under the attempt's reference: the processor
    replays an earlier complete() with the same reference, so this never charges twice."""
    capture = payment.capture_method == CaptureMethod.AUTOMATIC
    reference = attempt.processor_reference or payment.processor_reference
    return processor_call(
        attempt.id,
        connector,
        lambda c: c.complete(reference=attempt.id, processor_reference=reference, capture=capture),
    )


def status_read(
    connector: Connector | None,
    *,
    reference: str,
    has_processor_reference: bool,
    created: datetime,
    read: Callable[[Connector], ProcessorResult],
    scheduled: bool,
) -> ProcessorResult:
    """A status query, weighed by ``payments.outcomes.status_read_weighed`` (a "not found" proves
    nothing happened only when it can be trusted). No connector: inconclusive."""
    if connector is None:
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="processor_account_missing")
    result = processor_call(reference, connector, read)
    old_enough = created <= timezone.now() - timedelta(seconds=settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS)
    return status_read_weighed(
        result,
        has_processor_reference=has_processor_reference,
        old_enough=old_enough,
        scheduled=scheduled,
    )


def sync_schedule(resolution: Resolution, *, since: datetime) -> tuple[datetime | None, datetime | None]:
    """(next_sync_at, flagged_at) of an unknown or pending operation whose outcome has been open
    ``since``. The schedule is a clock, not a count: the n-th query is due at ``since`` plus the
    first n delays, the next one is the first such point still ahead, and once the last point
    has passed the operation is flagged for an operator. A stopped worker, a backlog or extra
    queries therefore neither use up the schedule nor bring the flag sooner."""
    delays = (
        settings.PAYMENTS_SYNC_SCHEDULE_SECONDS
        if resolution == Resolution.UNKNOWN
        else settings.PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS
    )
    now = timezone.now()
    due = since
    for delay in delays:
        due += timedelta(seconds=delay)
        if due > now:
            return due, None
    return None, now


def sync_anchor(row, resolution: Resolution) -> datetime:
    """Since when the operation's outcome is open: the call (``created``) for an unknown one, the
    processor's "pending" for a pending one."""
    if resolution == Resolution.PENDING and row.pending_since is not None:
        return row.pending_since
    return row.created


def requires_action_poll_next(tries: int) -> datetime:
    """When a payment waiting for the customer is polled next (back-off doubling per poll)."""
    return timezone.now() + timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS * 2**tries)
