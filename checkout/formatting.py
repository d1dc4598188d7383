"""Amounts as a customer reads them: the currency's own exponent (``gateway.money``), the
session's locale for symbols, separators and the sign's place (CLDR data, via Babel)."""

import copy
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale

from gateway.money import currency_exponent

DEFAULT_LOCALE = "en"
# Locales the page offers for "auto" (Accept-Language); any CLDR locale may be asked for explicitly.
AUTO_LOCALES = ("en", "en_GB", "de", "fr", "es", "it", "nl", "pt", "pt_BR", "ja", "sv", "da", "fi", "nb", "pl")


@lru_cache(maxsize=256)
def locale_parse(value: str) -> Locale | None:
    """A CLDR locale for ``value`` ("de", "fr-CA", "pt_BR"), or None when there is none."""
    try:
        return Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def locale_for(*, session_locale: str, accept_language: str = "") -> Locale:
    """The session's locale, or for "auto"/empty the best match of the browser's Accept-Language."""
    if session_locale and session_locale != "auto":
        return locale_parse(session_locale) or Locale.parse(DEFAULT_LOCALE)
    preferred = []
    for part in (accept_language or "").split(",")[:20]:
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            preferred.append(tag.replace("-", "_"))
    chosen = negotiate_locale(preferred, AUTO_LOCALES, sep="_") if preferred else None
    return Locale.parse(chosen or DEFAULT_LOCALE)


def money_format(*, amount: int, currency: str, locale: Locale) -> str:
    """1050 USD en -> "$10.50"; de -> "10,50 $"; 500 JPY -> "¥500"; 1234 KWD -> "KWD1.234".

    Exactly the currency's exponent in decimals, never rounded: the amount is exact minor units.
    """
    exponent = currency_exponent(currency)
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (exponent, exponent)
    return pattern.apply(Decimal(amount).scaleb(-exponent), locale, currency=currency.upper(), currency_digits=False)
