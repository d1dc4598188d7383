"""What a processor's answer means for our operation: pure functions, no database, no clock.

A connector answers with an ``Outcome`` (``processors.base``): what happened to the *call*. The
payments app needs a ``Resolution``: what became of the *operation* (a charge authorized, a
capture that provably did not happen...). The same ``Outcome`` can mean different things for a
capture and a void, and for the answer to our own call and a later status report, so this
mapping is written once, here, and settlement (``payments.services.settlement``) applies it.
"""

from dataclasses import replace
from enum import StrEnum

from processors.base import Outcome, ProcessorResult

from .models import AttemptOperation, AttemptStatus

Op = AttemptOperation

# Raw processor statuses meaning "the authorization was released" in a status report.
VOIDED_RAW_STATUSES = frozenset({"canceled", "cancelled", "voided"})
# A status read answering FAILED with one of these means "the processor has no such operation".
NOT_FOUND_CODES = frozenset({"not_found", "resource_missing"})


class Resolution(StrEnum):
    """Where an operation (an attempt or a refund) stands after a processor's answer."""

    CAPTURED = "captured"  # money captured (authorize+capture, capture, complete)
    AUTHORIZED = "authorized"  # held, not captured
    VOIDED = "voided"  # the authorization was released
    REQUIRES_ACTION = "requires_action"  # the customer must act (3-D Secure, PayPal approval)
    DECLINED = "declined"  # the issuer or processor refused the charge
    REFUSED = "refused"  # the processor refused a capture, void or refund: nothing moved
    REFUNDED = "refunded"  # a refund went through
    NOT_PROCESSED = "not_processed"  # provably nothing happened (processor unreachable...)
    UNKNOWN = "unknown"  # may have happened: only a status query can tell
    PENDING = "pending"  # accepted, the outcome comes later

    @property
    def is_open(self) -> bool:
        """Still unresolved: the janitor asks the processor again."""
        return self in (Resolution.UNKNOWN, Resolution.PENDING)


ATTEMPT_STATUS_FOR: dict[Resolution, str] = {
    Resolution.CAPTURED: AttemptStatus.SUCCEEDED,
    Resolution.AUTHORIZED: AttemptStatus.SUCCEEDED,
    Resolution.VOIDED: AttemptStatus.SUCCEEDED,
    Resolution.REQUIRES_ACTION: AttemptStatus.REQUIRES_ACTION,
    Resolution.DECLINED: AttemptStatus.DECLINED,
    Resolution.REFUSED: AttemptStatus.DECLINED,
    Resolution.NOT_PROCESSED: AttemptStatus.FAILED,
    Resolution.UNKNOWN: AttemptStatus.UNKNOWN,
    Resolution.PENDING: AttemptStatus.PENDING,
}

_REFUND_RESOLUTION: dict[Outcome, Resolution] = {
    Outcome.SUCCEEDED: Resolution.REFUNDED,
    Outcome.DECLINED: Resolution.REFUSED,
    Outcome.FAILED: Resolution.NOT_PROCESSED,
    Outcome.UNKNOWN: Resolution.UNKNOWN,
    Outcome.PENDING: Resolution.PENDING,
    Outcome.REQUIRES_ACTION: Resolution.UNKNOWN,  # not an answer a refund can have: ask again
}


def attempt_resolution(*, operation: str, result: ProcessorResult, source: str, capture_requested: bool) -> Resolution:
    """What a result means for a payment attempt's operation.

    ``source`` "call": the answer to the operation's own call. "sync"/"webhook": a report of the
    charge's current state (``status()``, a processor notification): SUCCEEDED then says where
    the charge stands (captured if ``amount_captured`` > 0, released if ``raw_status`` is
    canceled/voided, else authorized).
    """
    outcome = result.outcome
    if outcome == Outcome.UNKNOWN:
        return Resolution.UNKNOWN
    if outcome == Outcome.PENDING:
        return Resolution.PENDING
    if outcome == Outcome.FAILED:
        return Resolution.NOT_PROCESSED
    report = source != "call"
    if outcome == Outcome.REQUIRES_ACTION:
        return Resolution.NOT_PROCESSED if operation == Op.VOID and report else Resolution.REQUIRES_ACTION
    if outcome == Outcome.DECLINED:
        return _declined_resolution(operation=operation, report=report)
    return _succeeded_resolution(operation=operation, result=result, report=report, capture_requested=capture_requested)


def _declined_resolution(*, operation: str, report: bool) -> Resolution:
    if operation in (Op.AUTHORIZE, Op.COMPLETE):
        return Resolution.DECLINED
    if operation == Op.VOID and report:
        return Resolution.VOIDED  # a declined charge holds nothing: the void's goal is met
    return Resolution.REFUSED


def _succeeded_resolution(
    *, operation: str, result: ProcessorResult, report: bool, capture_requested: bool
) -> Resolution:
    if not report and operation == Op.VOID:
        return Resolution.VOIDED
    if not report and operation == Op.CAPTURE:
        return Resolution.CAPTURED
    if (result.raw_status or "").lower() in VOIDED_RAW_STATUSES:
        return Resolution.VOIDED
    if result.amount_captured > 0:
        return Resolution.CAPTURED
    if operation in (Op.CAPTURE, Op.VOID):
        return Resolution.NOT_PROCESSED  # the charge is still only authorized: our capture/void did not happen
    if not report and result.amount_authorized == 0:
        # A call that succeeded without reporting amounts did what was asked.
        return Resolution.CAPTURED if capture_requested else Resolution.AUTHORIZED
    return Resolution.AUTHORIZED


def refund_resolution(result: ProcessorResult) -> Resolution:
    """What a result means for a refund: REFUNDED, REFUSED, NOT_PROCESSED, UNKNOWN or PENDING."""
    return _REFUND_RESOLUTION[result.outcome]


def status_read_weighed(
    result: ProcessorResult, *, has_processor_reference: bool, old_enough: bool, scheduled: bool
) -> ProcessorResult:
    """A status query's answer, made conservative: only a definite "not found", for an operation
    the processor never acknowledged and old enough for the processor's search to show it, proves
    that nothing happened. A not-found from a lagging search index (``extra["lookup"] ==
    "search"``, Stripe) is trusted only from the janitor's scheduled syncs, never from on-demand
    ones (webhook trigger, follow-up operation, browser return), which can come much sooner.
    Any other failure of the read itself is inconclusive (ask again later)."""
    if result.outcome != Outcome.FAILED:
        return result
    searched = result.extra.get("lookup") == "search"
    if (
        result.error_code in NOT_FOUND_CODES
        and not has_processor_reference
        and old_enough
        and (scheduled or not searched)
    ):
        return result
    return replace(result, outcome=Outcome.UNKNOWN)
