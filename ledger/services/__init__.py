"""Posting to the books. Other apps call these; nothing else writes ledger rows.

Every posting runs inside the caller's transaction (the one that changes the payment or refund), so
the books and the business state commit or roll back together. Callers hold the payment's row lock
(lock order: order -> payment -> refund -> ledger); on PostgreSQL the ledger also takes a
transaction-scoped advisory lock per payment, so its own checks (no refund above what was captured,
one merchant and one currency per payment) hold even for a caller that forgot its lock. No account
row is ever locked or updated: balances are sums of lines, so postings for one merchant never queue
behind each other.

A capture (the hot path: one per paid payment) is posted in one statement: entry and lines in a CTE,
at most once per operation by the unique constraint ``ledger_entry_unique_operation_mode`` (ON CONFLICT
DO NOTHING), and only when the payment has no entry under another merchant or currency. When that
statement inserts nothing, the full path (advisory lock, history) answers: the same figures return
the entry already posted, other figures are refused (409).
"""

from .accounts import _accounts, _accounts_cache_key
from .disputes import ledger_post_dispute, ledger_post_dispute_fee, ledger_post_dispute_won
from .errors import LedgerPostingError
from .payments import ledger_post_capture, ledger_post_refund
from .posting import PAYOUT_STATUSES, POSTING_RULES, Line
from .settlement import ledger_post_fee, ledger_post_payout

__all__ = [
    "PAYOUT_STATUSES",
    "POSTING_RULES",
    "LedgerPostingError",
    "Line",
    "_accounts",
    "_accounts_cache_key",
    "ledger_post_capture",
    "ledger_post_dispute",
    "ledger_post_dispute_fee",
    "ledger_post_dispute_won",
    "ledger_post_fee",
    "ledger_post_payout",
    "ledger_post_refund",
]
