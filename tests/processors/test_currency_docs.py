"""docs/processors.md's currency table says what the connectors do: every currency of
gateway/money.py once, with its ISO, Stripe and PayPal decimals as the code has them."""

import re
from pathlib import Path

from gateway.money import CURRENCY_EXPONENTS
from processors.paypal.currencies import PAYPAL_CURRENCIES
from processors.stripe.currencies import STRIPE_CURRENCIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "processors.md"


def _documented() -> dict[str, tuple[str, str, str]]:
    text = DOC.read_text()
    section = text.split("## Currencies", 1)[1].split("\n## ", 1)[0]
    rows = {
        match.group(1): (match.group(2), match.group(3), match.group(4))
        for match in re.finditer(r"^\| ([A-Z]{3}) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", section, re.MULTILINE)
    }
    rest = section.split("is not a\nPayPal currency:", 1)[1].split("\n\n", 1)[0]
    for code in re.findall(r"[A-Z]{3}", rest):
        assert code not in rows, f"{code} is both in the table and among the others"
        rows[code] = ("2", "2", "-")
    return rows


def test_the_documented_currency_table_is_the_codes():
    documented = _documented()
    assert set(documented) == set(CURRENCY_EXPONENTS)
    actual = {
        code: (str(exponent), STRIPE_CURRENCIES.describe(code), PAYPAL_CURRENCIES.describe(code))
        for code, exponent in CURRENCY_EXPONENTS.items()
    }
    assert documented == actual
