"""The checkout session state machine: one table, one function that applies it.

``open -> complete`` when its payment succeeded (or, with manual capture, is authorized);
``open -> expired`` at ``expires_at`` (beat task, or on read) or by ``POST .../expire``, once no
payment can still succeed. ``complete`` and ``expired`` are final.
"""

from gateway.errors import Conflict

from .models import CheckoutSession, SessionStatus

OPEN, COMPLETE, EXPIRED = SessionStatus.OPEN, SessionStatus.COMPLETE, SessionStatus.EXPIRED

TRANSITIONS: dict[tuple[str, str], str] = {
    (OPEN, "complete"): COMPLETE,
    (OPEN, "expire"): EXPIRED,
}

EVENT_FOR_STATUS = {COMPLETE: "checkout.session.completed", EXPIRED: "checkout.session.expired"}


def session_unexpected_state(session: CheckoutSession, action: str) -> Conflict:
    return Conflict(
        f"This checkout session's status is '{session.status}'; it cannot {action} now.",
        code="checkout_session_unexpected_state",
        extra={"checkout_session_status": session.status},
    )


def session_transition(session: CheckoutSession, action: str) -> str:
    """Move ``session`` (in memory; the caller saves) by ``action``; 409 if the table forbids it."""
    target = TRANSITIONS.get((session.status, action))
    if target is None:
        raise session_unexpected_state(session, action)
    session.status = target
    return target
