"""The dispute state table (Stripe's statuses; PayPal's are mapped onto them at the connector).

The processor decides a dispute; the gateway mirrors what the processor reports when asked
(``Connector.dispute``), so a move the table does not allow (a closed dispute reported open again)
is refused and logged, never applied. First sight of a dispute may be in any status (the processor
may have opened and closed it before we heard).

| from | to |
| --- | --- |
| (new) | any status |
| warning_needs_response | warning_under_review, warning_closed, needs_response, under_review, won, lost |
| warning_under_review | warning_needs_response, warning_closed, needs_response, under_review, won, lost |
| needs_response | under_review, won, lost |
| under_review | needs_response, won, lost |
| warning_closed, won, lost | (final) |

Money (``disputes.books``): an inquiry (``warning_*``) moves none. A chargeback status
(needs_response, under_review, won, lost) means the processor withdrew the amount and its fee:
withdrawn once, when first seen. ``won`` reinstates the amount (and any fee the processor returns),
once. ``lost`` keeps the withdrawal.
"""

WARNING_NEEDS_RESPONSE = "warning_needs_response"
WARNING_UNDER_REVIEW = "warning_under_review"
WARNING_CLOSED = "warning_closed"
NEEDS_RESPONSE = "needs_response"
UNDER_REVIEW = "under_review"
WON = "won"
LOST = "lost"

DISPUTE_STATUSES = (
    WARNING_NEEDS_RESPONSE,
    WARNING_UNDER_REVIEW,
    WARNING_CLOSED,
    NEEDS_RESPONSE,
    UNDER_REVIEW,
    WON,
    LOST,
)
_OPEN_CHARGEBACK = frozenset({NEEDS_RESPONSE, UNDER_REVIEW, WON, LOST})
_OPEN_WARNING = frozenset({WARNING_UNDER_REVIEW, WARNING_CLOSED, NEEDS_RESPONSE, UNDER_REVIEW, WON, LOST})

TRANSITIONS: dict[str, frozenset[str]] = {
    WARNING_NEEDS_RESPONSE: _OPEN_WARNING,
    WARNING_UNDER_REVIEW: _OPEN_WARNING - {WARNING_UNDER_REVIEW} | {WARNING_NEEDS_RESPONSE},
    NEEDS_RESPONSE: frozenset({UNDER_REVIEW, WON, LOST}),
    UNDER_REVIEW: frozenset({NEEDS_RESPONSE, WON, LOST}),
    WARNING_CLOSED: frozenset(),
    WON: frozenset(),
    LOST: frozenset(),
}
CLOSED_STATUSES = frozenset({WARNING_CLOSED, WON, LOST})
# The processor holds the money back in these (a chargeback, not an inquiry).
FUNDS_WITHDRAWN_STATUSES = _OPEN_CHARGEBACK
# The payment shows "disputed": a dispute still open, or lost.
DISPUTED_STATUSES = frozenset({WARNING_NEEDS_RESPONSE, WARNING_UNDER_REVIEW, NEEDS_RESPONSE, UNDER_REVIEW, LOST})


def transition_allowed(current: str | None, new: str) -> bool:
    if new not in DISPUTE_STATUSES:
        return False
    if current is None or current == new:
        return True
    return new in TRANSITIONS[current]


def event_for(*, created: bool, old_status: str | None, new_status: str) -> str | None:
    """The event a change publishes: created first; closed when it enters a final status."""
    if created:
        return "dispute.created"
    if old_status != new_status and new_status in CLOSED_STATUSES:
        return "dispute.closed"
    return "dispute.updated"
