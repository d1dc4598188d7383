"""Stripe's currencies and how its API counts them (Stripe docs, "Supported currencies",
https://docs.stripe.com/currencies, and the ISK notice "Deprecation of fractional ISK charges").

* Amounts are integers in the currency's smallest unit as *Stripe* defines it: two decimals
  unless listed otherwise below.
* Zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF. (MGA has two
  decimals in ISO 4217: an ISO amount must be a whole ariary to be sent.)
* Three-decimal: BHD JOD KWD OMR TND, and the last digit must be 0 ("round to the nearest ten").
* ISK: two decimals in the API although ISO gives it none (100 = 1 kr), and since 14 April 2023
  the amount must be a multiple of 100 (``invalid_charge_amount_no_decimal_compatible``).
* HUF and TWD: two decimals for charges and refunds (their "divisible by 100" rule is for payouts).
* Presentment currencies are Stripe's list; an ISO code Stripe does not list (IRR, STN, VES...)
  is refused before any call. Stripe lists UGX as zero-decimal: it is sent as is (ISO 0).
"""

from ..currencies import CurrencyTable, WireRule

_ZERO_DECIMAL = ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                 "XOF", "XPF")  # fmt: skip
_THREE_DECIMAL = ("BHD", "JOD", "KWD", "OMR", "TND")
_TWO_DECIMAL = (
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND",
    "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CVE", "CZK", "DKK", "DOP",
    "DZD", "EGP", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "JMD", "KES", "KGS", "KHR", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
    "MKD", "MMK", "MNT", "MOP", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
    "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP",
    "SLE", "SOS", "SRD", "SZL", "THB", "TJS", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "WST",
    "XCD", "YER", "ZAR", "ZMW",
)  # fmt: skip

STRIPE_CURRENCIES = CurrencyTable(
    processor="stripe",
    label="Stripe",
    rules={
        **{code: WireRule(exponent=2) for code in _TWO_DECIMAL},
        **{code: WireRule(exponent=0) for code in _ZERO_DECIMAL},
        **{code: WireRule(exponent=3, step=10) for code in _THREE_DECIMAL},
        "ISK": WireRule(exponent=2, step=100),
    },
)
