"""What never reaches the audit trail in clear: secrets, credentials, tokens and card data.

Two rules, applied recursively to every value stored: a field whose *name* says it holds a secret
is replaced whole; a card number anywhere in a *value* (13 to 19 digits, optionally spaced or
dashed, passing Luhn) keeps only its last four digits.
"""

import re
from typing import Any

MASK = "[masked]"
SECRET_NAME = re.compile(
    r"secret|password|passwd|token|credential|api_?key|raw_key|key_hash|hashed|vault|cvc|cvv|"
    r"card_?number|^number$|pan$|fingerprint|signature|authorization",
    re.IGNORECASE,
)
_CARDLIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card_numbers(text: str) -> str:
    def replace(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return f"****{digits[-4:]}" if _luhn(digits) else match.group(0)

    return _CARDLIKE.sub(replace, text)


def masked(value: Any, *, name: str = "") -> Any:
    """``value`` safe to store: secrets by field name replaced, card numbers cut to their last four."""
    if name and SECRET_NAME.search(name):
        return MASK if value not in (None, "") else value
    if isinstance(value, dict):
        return {str(key): masked(item, name=str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return _mask_card_numbers(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _mask_card_numbers(str(value))
