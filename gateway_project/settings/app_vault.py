"""Settings owned by the vault module (all from the environment; see the README's configuration table).

``ENCRYPTION_KEYS``: comma-separated ``kid:base64url(32 random bytes)``; the LAST entry is the active
key (new ciphertexts), the others only decrypt (rotation). ``HMAC_KEY``: the secret for keyed hashes
(card fingerprints); at least 32 characters, and it must not change once data exists.

Without ENCRYPTION_KEYS/HMAC_KEY the keyring derives development keys from SECRET_KEY (with a loud
warning). ``production.py`` sets ``VAULT_DEV_KEYS_ALLOWED = False`` and calls
``vault_keys_check_production()`` so a production process refuses to start without real keys.
"""

import base64
import binascii
import re

from django.core.exceptions import ImproperlyConfigured

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

__all__ = ["ENCRYPTION_KEYS", "HMAC_KEY", "HMAC_KEY_MIN_LENGTH", "VAULT_DEV_KEYS_ALLOWED"]

_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
HMAC_KEY_MIN_LENGTH = 32


def vault_keys_parse(entries: list[str]) -> list[tuple[str, bytes]]:
    """``["k1:<b64url>", ...]`` -> ``[("k1", 32 bytes), ...]``; malformed input is a startup error."""
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for entry in entries:
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KID_RE.match(kid):
            raise ImproperlyConfigured(
                "ENCRYPTION_KEYS entries must look like 'kid:base64url-key' (kid: [A-Za-z0-9_-])."
            )
        if kid in seen:
            raise ImproperlyConfigured(f"ENCRYPTION_KEYS: key id {kid!r} appears twice.")
        try:
            raw = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"ENCRYPTION_KEYS: key {kid!r} is not valid base64url.") from None
        if len(raw) != 32:
            raise ImproperlyConfigured(f"ENCRYPTION_KEYS: key {kid!r} must decode to 32 bytes (AES-256).")
        seen.add(kid)
        keys.append((kid, raw))
    return keys


ENCRYPTION_KEYS: list[str] = env_list("ENCRYPTION_KEYS", "")
HMAC_KEY: str | None = env("HMAC_KEY")
# Parse now so a malformed key stops the process at startup in every mode, not at the first payment.
vault_keys_parse(ENCRYPTION_KEYS)
if HMAC_KEY is not None and len(HMAC_KEY) < HMAC_KEY_MIN_LENGTH:
    raise ImproperlyConfigured(f"HMAC_KEY must be at least {HMAC_KEY_MIN_LENGTH} characters.")

# Development/test convenience: derive keys from SECRET_KEY when none are configured.
# production.py turns this off.
VAULT_DEV_KEYS_ALLOWED = True


def vault_keys_check_production() -> None:
    """Called by production settings: real keys are mandatory there."""
    if not ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEYS must be set in production (comma-separated kid:base64url(32 bytes); last is active)."
        )
    if not HMAC_KEY:
        raise ImproperlyConfigured("HMAC_KEY must be set in production (a random secret of at least 32 characters).")
