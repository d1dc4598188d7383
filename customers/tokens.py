"""Customer session tokens: the ``cst_`` prefix, how a raw token is made, and how it is stored
(only its SHA-256). Shared by the services (login), the selectors (resolution) and authentication."""

import hashlib
import secrets

SESSION_TOKEN_PREFIX = "cst_"


def session_token_new() -> str:
    """A raw session token (256 bits of randomness), shown to the customer once."""
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def session_token_hash(raw_token: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (as for API keys).
    return hashlib.sha256(raw_token.encode()).hexdigest()
