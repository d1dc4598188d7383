"""The payment state machine: one table, one function that applies it.

Keys are (current status, action); values the statuses the action may lead to. An action
that starts a processor call moves the payment to ``processing`` first (committed before the
call): that status plus the row lock is what lets exactly one of several concurrent
confirm/capture/cancel requests proceed. The call's outcome then moves it on from ``processing``.
"""

from gateway.errors import Conflict

from .models import Payment, PaymentStatus

RPM = PaymentStatus.REQUIRES_PAYMENT_METHOD
RC = PaymentStatus.REQUIRES_CONFIRMATION
RA = PaymentStatus.REQUIRES_ACTION
PROCESSING = PaymentStatus.PROCESSING
RCAP = PaymentStatus.REQUIRES_CAPTURE
CANCELED = PaymentStatus.CANCELED
SUCCEEDED = PaymentStatus.SUCCEEDED
FAILED = PaymentStatus.FAILED

TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    # no processor call
    (RPM, "attach_method"): frozenset({RC}),
    (RPM, "cancel"): frozenset({CANCELED}),
    (RC, "cancel"): frozenset({CANCELED}),
    # a processor call starts
    (RPM, "confirm"): frozenset({PROCESSING}),
    (RC, "confirm"): frozenset({PROCESSING}),
    (RA, "complete"): frozenset({PROCESSING}),
    (RA, "void"): frozenset({PROCESSING}),
    (RCAP, "capture"): frozenset({PROCESSING}),
    (RCAP, "void"): frozenset({PROCESSING}),
    # the processor's answer
    (PROCESSING, "action_required"): frozenset({RA}),
    (PROCESSING, "authorized"): frozenset({RCAP}),
    (PROCESSING, "captured"): frozenset({SUCCEEDED}),
    (PROCESSING, "voided"): frozenset({CANCELED}),
    (PROCESSING, "declined"): frozenset({RPM}),
    (PROCESSING, "declined_final"): frozenset({FAILED}),  # PAYMENTS_MAX_DECLINES reached
    # the processor refused our capture or void (409 processor_refused): nothing moved, so the
    # payment is back where the operation began and may be captured or canceled again
    (PROCESSING, "refused"): frozenset({RA, RCAP}),
    # provably nothing happened at the processor (every route down): back where it started
    (PROCESSING, "not_processed"): frozenset({RPM, RA, RCAP}),
}

TERMINAL_STATUSES = frozenset({CANCELED, SUCCEEDED, FAILED})

# Which status change publishes which event (``payment.created`` is written on creation).
EVENT_FOR_STATUS: dict[str, str] = {
    RC: "payment.updated",
    PROCESSING: "payment.processing",
    RA: "payment.requires_action",
    RCAP: "payment.authorized",
    SUCCEEDED: "payment.succeeded",
    CANCELED: "payment.canceled",
    FAILED: "payment.failed",
    RPM: "payment.updated",
}


def payment_unexpected_state(payment: Payment, action: str) -> Conflict:
    return Conflict(
        f"This payment's status is '{payment.status}'; it cannot {action.replace('_', ' ')} now.",
        code="payment_unexpected_state",
        extra={"payment_status": payment.status},
    )


def transition_allowed(status: str, action: str) -> frozenset[str]:
    return TRANSITIONS.get((status, action), frozenset())


def payment_transition(payment: Payment, action: str, to: str | None = None) -> str:
    """Move ``payment`` (in memory; the caller saves) by ``action``; 409 if the table forbids it.

    ``to`` picks the target when the action has several (``refused``, ``not_processed``). Returns
    the new status.
    """
    targets = transition_allowed(payment.status, action)
    if not targets:
        raise payment_unexpected_state(payment, action)
    if to is None:
        if len(targets) != 1:
            raise ValueError(f"action {action!r} from {payment.status!r} needs an explicit target")
        (to,) = targets
    elif to not in targets:
        raise payment_unexpected_state(payment, action)
    payment.status = to
    return to


def reachable(start: str, end: str) -> bool:
    """Whether the table allows getting from ``start`` to ``end`` in any number of steps (tests)."""
    seen, frontier = {start}, [start]
    while frontier:
        current = frontier.pop()
        for (source, _action), targets in TRANSITIONS.items():
            if source == current:
                for target in targets - seen:
                    seen.add(target)
                    frontier.append(target)
    return end in seen
