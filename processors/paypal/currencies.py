"""PayPal's currencies and their decimals (PayPal docs, "Currency codes" / "PayPal supported
currencies", and the Orders v2 and Payments v2 errors ``DECIMALS_NOT_SUPPORTED``,
``DECIMAL_PRECISION`` and ``INVALID_CURRENCY_CODE``).

* Amounts are decimal strings (``money.value``) with the currency's PayPal decimals.
* HUF, JPY and TWD take no decimals ("Decimal amounts cause an error"): HUF and TWD have two in
  ISO 4217, so an ISO amount must be a whole forint / dollar to be sent.
* Every other PayPal currency has two decimals. Only these 24 currencies are PayPal's: KWD, BHD
  and the other three-decimal currencies, for instance, are not (refused before any call).
* BRL, CNY and MYR are accepted for in-country PayPal accounts only; PayPal refuses them for
  others at the call (a decline, nothing moves).
"""

from ..currencies import CurrencyTable, WireRule

_NO_DECIMALS = ("HUF", "JPY", "TWD")
_TWO_DECIMALS = ("AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "ILS", "MXN", "MYR", "NOK",
                 "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "USD")  # fmt: skip

PAYPAL_CURRENCIES = CurrencyTable(
    processor="paypal",
    label="PayPal",
    rules={
        **{code: WireRule(exponent=2) for code in _TWO_DECIMALS},
        **{code: WireRule(exponent=0) for code in _NO_DECIMALS},
    },
)
