"""Money is an integer in the currency's minor unit plus an ISO 4217 code. Never floats.

``MAX_AMOUNT`` bounds any single amount (and any computed total) so sums can never overflow
PostgreSQL's bigint and so absurd values are a 400, not a 500.
"""

from decimal import Decimal, InvalidOperation

from .errors import InvalidRequest

# ISO 4217 active codes with their minor-unit exponent (default 2).
_ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
    "XAF", "XOF", "XPF",
}  # fmt: skip
_THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_TWO_DECIMAL = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD",
    "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP",
    "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
    "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
    "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR", "ZMW", "ZWL",
}  # fmt: skip
CURRENCY_EXPONENTS: dict[str, int] = (
    {c: 0 for c in _ZERO_DECIMAL} | {c: 3 for c in _THREE_DECIMAL} | {c: 2 for c in _TWO_DECIMAL}
)

# 12 digits of minor units: 9,999,999,999.99 USD. Far above any real payment, far below 2**63.
MAX_AMOUNT = 999_999_999_999


def currency_exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency.upper()]


def currency_validate(value: object, *, param: str = "currency") -> str:
    """Return the upper-case ISO 4217 code, or raise a 400 naming ``param``."""
    code = value.upper() if isinstance(value, str) else ""
    if code not in CURRENCY_EXPONENTS:
        raise InvalidRequest(
            f"Invalid currency: {value!r} is not an ISO 4217 code.", code="invalid_currency", param=param
        )
    return code


def amount_validate(value: object, *, param: str = "amount", minimum: int = 0) -> int:
    """An integer amount in minor units within [minimum, MAX_AMOUNT]; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"{param} must be an integer in the currency's minor unit.", code="invalid_amount", param=param
        )
    if not minimum <= value <= MAX_AMOUNT:
        raise InvalidRequest(
            f"{param} must be between {minimum} and {MAX_AMOUNT}.", code="amount_out_of_range", param=param
        )
    return value


def to_decimal_string(amount: int, currency: str) -> str:
    """1050 USD -> "10.50"; 500 JPY -> "500"; 1234 KWD -> "1.234" (exact, for wire formats like PayPal's)."""
    exponent = currency_exponent(currency)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if exponent == 0:
        return f"{sign}{amount}"
    whole, frac = divmod(amount, 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


def from_decimal_string(value: str, currency: str) -> int:
    """ "10.50" USD -> 1050. Raises ValueError when the value has more precision than the currency."""
    exponent = currency_exponent(currency)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more decimals than {currency} allows")
    return int(scaled)
