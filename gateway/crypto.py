"""Encryption keyring: AES-256-GCM with a key id on every ciphertext, and keyed hashes.

Token format: ``v1.<kid>.<base64url(nonce(12) | ciphertext+tag)>``. The ``purpose`` (e.g.
``"card"``) and the key id are bound as associated data, so a ciphertext made for one purpose
cannot be replayed as another, nor relabelled with another key id.

Keys come from settings (``ENCRYPTION_KEYS``: ``kid:base64url(32 bytes)``, the last one active;
``HMAC_KEY``), see ``gateway_project/settings/app_vault.py``. Rotation: add a new key at the end,
re-encrypt stored tokens (``needs_reencrypt`` / ``reencrypt``), then drop the old key.
Without configured keys and when ``VAULT_DEV_KEYS_ALLOWED`` (everything but production), keys
are derived from SECRET_KEY with a warning, so the embedded mode and tests work out of the box.
"""

import base64
import binascii
import hashlib
import hmac
import logging
import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from gateway_project.settings.app_vault import vault_keys_parse

logger = logging.getLogger("gateway.crypto")

TOKEN_VERSION = "v1"
NONCE_BYTES = 12
DEV_KEY_ID = "dev"


class DecryptionError(Exception):
    """The token is malformed, was made for another purpose, or its key is not in the keyring."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, AESGCM]
    active_kid: str
    hmac_key: bytes
    dev: bool


_lock = threading.Lock()
_cache: tuple[tuple, Keyring] | None = None


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gateway.crypto.dev", info=info).derive(secret.encode())


def _build(encryption_keys: tuple[str, ...], hmac_key: str | None, secret_key: str, dev_allowed: bool) -> Keyring:
    parsed = vault_keys_parse(list(encryption_keys))
    dev = False
    if not parsed:
        if not dev_allowed:
            raise ImproperlyConfigured("ENCRYPTION_KEYS is not set; refusing to encrypt with a derived key.")
        parsed = [(DEV_KEY_ID, _derive(secret_key, b"encryption"))]
        dev = True
    if hmac_key:
        hmac_bytes = hmac_key.encode()
    else:
        if not dev_allowed:
            raise ImproperlyConfigured("HMAC_KEY is not set; refusing to compute keyed hashes with a derived key.")
        hmac_bytes = _derive(secret_key, b"hmac")
        dev = True
    if dev:
        logger.warning(
            "ENCRYPTION KEYS DERIVED FROM SECRET_KEY: development/test mode only. Set ENCRYPTION_KEYS and "
            "HMAC_KEY (random, from a secret store) for any real card data."
        )
    return Keyring(
        keys={kid: AESGCM(raw) for kid, raw in parsed},
        active_kid=parsed[-1][0],
        hmac_key=hmac_bytes,
        dev=dev,
    )


def keyring() -> Keyring:
    """The keyring for the current settings (rebuilt when they change, e.g. under override_settings)."""
    global _cache
    source = (
        tuple(settings.ENCRYPTION_KEYS or ()),
        settings.HMAC_KEY,
        settings.SECRET_KEY,
        bool(getattr(settings, "VAULT_DEV_KEYS_ALLOWED", False)),
    )
    cached = _cache
    if cached is not None and cached[0] == source:
        return cached[1]
    with _lock:
        if _cache is None or _cache[0] != source:
            _cache = (source, _build(*source))
        return _cache[1]


def _aad(kid: str, purpose: str) -> bytes:
    if not purpose:
        raise ValueError("purpose is required")
    return f"{TOKEN_VERSION}.{kid}.{purpose}".encode()


def _split(token: str) -> tuple[str, bytes]:
    if not isinstance(token, str):
        raise DecryptionError("token must be a string")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or not parts[1]:
        raise DecryptionError("malformed token")
    try:
        blob = _b64d(parts[2])
    except (binascii.Error, ValueError):
        raise DecryptionError("malformed token") from None
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError("malformed token")
    return parts[1], blob


def token_kid(token: str) -> str:
    return _split(token)[0]


def encrypt(plaintext: bytes, *, purpose: str) -> str:
    ring = keyring()
    kid = ring.active_kid
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = ring.keys[kid].encrypt(nonce, bytes(plaintext), _aad(kid, purpose))
    return f"{TOKEN_VERSION}.{kid}.{_b64e(nonce + ciphertext)}"


def decrypt(token: str, *, purpose: str) -> bytes:
    kid, blob = _split(token)
    aead = keyring().keys.get(kid)
    if aead is None:
        raise DecryptionError(f"key {kid!r} is not in the keyring")
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(kid, purpose))
    except InvalidTag:
        raise DecryptionError("authentication failed (wrong key or purpose, or tampered token)") from None


def needs_reencrypt(token: str) -> bool:
    return token_kid(token) != keyring().active_kid


def reencrypt(token: str, *, purpose: str) -> str:
    """The same plaintext under the active key; the token unchanged when it already uses it."""
    if not needs_reencrypt(token):
        decrypt(token, purpose=purpose)  # still authenticate, so a bad token never passes as "done"
        return token
    return encrypt(decrypt(token, purpose=purpose), purpose=purpose)


def keyed_hash(value: str, *, purpose: str) -> str:
    """Hex HMAC-SHA256 of ``value`` under a per-purpose subkey of HMAC_KEY (deterministic per deployment)."""
    if not purpose:
        raise ValueError("purpose is required")
    subkey = hmac.new(keyring().hmac_key, f"gateway.keyed_hash.{purpose}".encode(), hashlib.sha256).digest()
    return hmac.new(subkey, value.encode(), hashlib.sha256).hexdigest()
