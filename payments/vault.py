"""Card vault: the card number and expiry encrypted at rest, a keyed fingerprint of the number.

The CVC is never accepted here: it lives in memory for the one processor call only (PCI DSS 3.3.1).
Tokens are ``gateway.crypto`` tokens (key id inside), so rotation is
``gateway.crypto.needs_reencrypt(token)`` / ``card_reencrypt(token)``.
"""

import json

from gateway import crypto
from processors.base import CardDetails

CARD_PURPOSE = "card"
FINGERPRINT_PURPOSE = "card_fingerprint"
FINGERPRINT_LENGTH = 32  # hex characters (128 bits of the HMAC)


def _digits(number: str) -> str:
    digits = "".join(ch for ch in str(number) if ch not in " -")
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise ValueError("card number must be 12 to 19 digits")
    return digits


def card_encrypt(*, number: str, exp_month: int, exp_year: int) -> str:
    """Encrypt a (validated) card's number and expiry. Returns an opaque token for storage."""
    if not (isinstance(exp_month, int) and 1 <= exp_month <= 12):
        raise ValueError("exp_month must be 1..12")
    if not (isinstance(exp_year, int) and 2000 <= exp_year <= 2200):
        raise ValueError("exp_year must be a four-digit year")
    payload = json.dumps({"n": _digits(number), "m": exp_month, "y": exp_year}, separators=(",", ":"))
    return crypto.encrypt(payload.encode(), purpose=CARD_PURPOSE)


def card_decrypt(token: str) -> CardDetails:
    """The stored card, ready for one processor call (``cvc`` is None: it was never stored)."""
    data = json.loads(crypto.decrypt(token, purpose=CARD_PURPOSE))
    return CardDetails(number=data["n"], exp_month=data["m"], exp_year=data["y"], cvc=None)


def card_reencrypt(token: str) -> str:
    """The token under the active key (unchanged if already there); for the key-rotation command."""
    return crypto.reencrypt(token, purpose=CARD_PURPOSE)


def card_fingerprint(number: str) -> str:
    """Same card number -> same fingerprint within one deployment (keyed by HMAC_KEY); not reversible."""
    return crypto.keyed_hash(_digits(number), purpose=FINGERPRINT_PURPOSE)[:FINGERPRINT_LENGTH]
