"""Webhook signing: ``Gateway-Signature: t=<unix>,v1=<hex>[,v1=<hex>]``.

Each ``v1`` is the hex HMAC-SHA256, keyed with the whole endpoint secret string (``whsec_...``),
of ``"<t>.<raw body>"``. During a secret rotation overlap there is one ``v1`` per valid secret,
the newest first. Secrets are stored encrypted (``gateway.crypto``, purpose ``webhook_secret``).
"""

import hashlib
import hmac
import secrets

from gateway import crypto

HEADER = "Gateway-Signature"
SECRET_PREFIX = "whsec_"
_PURPOSE = "webhook_secret"


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_seal(secret: str) -> str:
    return crypto.encrypt(secret.encode(), purpose=_PURPOSE)


def secret_open(token: str) -> str:
    return crypto.decrypt(token, purpose=_PURPOSE).decode()


def secret_needs_reencrypt(token: str) -> bool:
    return crypto.needs_reencrypt(token)


def secret_reencrypt(token: str) -> str:
    return crypto.reencrypt(token, purpose=_PURPOSE)


def signature(*, secret: str, timestamp: int, payload: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def signature_header(*, secrets_newest_first: list[str], timestamp: int, payload: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature(secret=s, timestamp=timestamp, payload=payload)}" for s in secrets_newest_first]
    return ",".join(parts)
