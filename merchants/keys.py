"""API keys: their prefixes, how a raw key is made and how it is stored (only its SHA-256), and
where its resolution is cached. Shared by the services (create, revoke), the selectors (resolve)
and authentication."""

import hashlib
import secrets
import string

API_KEY_PREFIXES = ("sk_test_", "sk_live_", "pk_test_", "pk_live_")
_KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_RANDOM_LENGTH = 32


def api_key_prefix(*, kind: str, livemode: bool) -> str:
    return {"secret": "sk", "publishable": "pk"}[kind] + ("_live_" if livemode else "_test_")


def api_key_new(*, kind: str, livemode: bool) -> str:
    """A raw key (190 bits of randomness after its prefix), shown once and never stored."""
    return api_key_prefix(kind=kind, livemode=livemode) + "".join(
        secrets.choice(_KEY_ALPHABET) for _ in range(_KEY_RANDOM_LENGTH)
    )


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"
