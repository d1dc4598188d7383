"""Customer session tokens: the ``cst_`` prefix, how a raw token is made, and how it is stored
(only its SHA-256). Shared by the services (login), the selectors (resolution) and authentication.

A token names its merchant: ``cst_<merchant id body>_<secret>``. The request that presents it
carries no API key, and the merchant is what the data is distributed by (docs/scaling.md), so the
lookup stays on one shard. The hash covers the whole token: the merchant part cannot be swapped.
Tokens issued before the merchant part existed (``cst_<secret>``) still resolve, by hash alone.
"""

import hashlib
import secrets

from gateway.ids import looks_like_id

SESSION_TOKEN_PREFIX = "cst_"
_MERCHANT_PREFIX = "mer"


def session_token_new(*, merchant_id: str) -> str:
    """A raw session token (256 bits of randomness) for a customer of `merchant_id`, shown once."""
    body = merchant_id.removeprefix(f"{_MERCHANT_PREFIX}_")
    return f"{SESSION_TOKEN_PREFIX}{body}_{secrets.token_urlsafe(32)}"


def session_token_merchant(raw_token: str) -> str | None:
    """The merchant a token names, or None for a token without one (issued before, or malformed)."""
    body, separator, _ = raw_token.removeprefix(SESSION_TOKEN_PREFIX).partition("_")
    merchant_id = f"{_MERCHANT_PREFIX}_{body}"
    return merchant_id if separator and looks_like_id(merchant_id, _MERCHANT_PREFIX) else None


def session_token_hash(raw_token: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (as for API keys).
    return hashlib.sha256(raw_token.encode()).hexdigest()
