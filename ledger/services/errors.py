"""What the books refuse."""

from gateway.errors import Conflict


class LedgerPostingError(Conflict):
    """The books refuse a posting: it contradicts what was already posted for the payment.

    Reaching this is a bug in the caller (payments checks the same rules first); as an ApiError it
    rolls the caller's transaction back and answers 409 instead of a 500.
    """

    code = "ledger_posting_rejected"
