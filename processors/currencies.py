"""Each processor's own currency rules, applied at its boundary.

The gateway's API speaks ISO 4217 minor units (``gateway.money``); a processor may count the same
currency differently (Stripe sends ISK with two decimals although ISO gives it none, PayPal takes
HUF without decimals although ISO gives it two) or not take it at all. A ``CurrencyTable`` says,
per currency a processor accepts, how many decimals its wire amounts have and of what step they
must be a multiple (Stripe's three-decimal currencies end in 0). Conversion is exact or refused:
money is never rounded. A refusal is a 400 naming the processor, raised before any call:
``currency_not_supported`` (the processor does not take the currency) or
``amount_not_representable`` (it cannot express this amount exactly).

The tables themselves live with each connector (``processors/stripe/currencies.py``,
``processors/paypal/currencies.py``), with the documentation they come from.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gateway.errors import InvalidRequest
from gateway.money import currency_exponent

CURRENCY_NOT_SUPPORTED = "currency_not_supported"
AMOUNT_NOT_REPRESENTABLE = "amount_not_representable"


@dataclass(frozen=True)
class WireRule:
    """How one currency's amounts look on a processor's wire."""

    exponent: int  # the processor's decimals for the currency
    step: int = 1  # a wire amount must be a multiple of this (in the processor's own units)


class CurrencyRefused(Exception):
    """The processor cannot take this currency, or this amount of it exactly."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CurrencyTable:
    """The currencies one processor accepts and how it counts them."""

    def __init__(self, *, processor: str, label: str, rules: dict[str, WireRule]):
        self.processor = processor
        self.label = label  # for messages: "Stripe"
        self.rules = rules

    def supports(self, currency: str) -> bool:
        return currency.upper() in self.rules

    def rule(self, currency: str) -> WireRule:
        code = currency.upper()
        if code not in self.rules:
            raise CurrencyRefused(CURRENCY_NOT_SUPPORTED, f"{self.label} does not accept {code}.")
        return self.rules[code]

    def to_wire(self, amount: int, currency: str) -> int:
        """``amount`` ISO minor units as the processor's integer units, exactly, or ``CurrencyRefused``."""
        code = currency.upper()
        rule = self.rule(code)
        shift = rule.exponent - currency_exponent(code)
        if shift >= 0:
            wire = amount * 10**shift
        else:
            wire, rest = divmod(amount, 10**-shift)
            if rest:
                raise self._not_representable(amount, code, rule)
        if wire % rule.step:
            raise self._not_representable(amount, code, rule)
        return wire

    def from_wire(self, wire: int, currency: str) -> int:
        """A processor's integer amount as ISO minor units; ``ValueError`` if ISO cannot hold it exactly."""
        code = currency.upper()
        shift = self.rule(code).exponent - currency_exponent(code)
        if shift <= 0:
            return wire * 10**-shift
        amount, rest = divmod(wire, 10**shift)
        if rest:
            raise ValueError(f"{self.label} amount {wire} {code} has more decimals than ISO 4217 allows")
        return amount

    def to_decimal_string(self, amount: int, currency: str) -> str:
        """The amount as the processor's decimal string ("10.50", HUF at PayPal "1000"), exactly."""
        code = currency.upper()
        exponent = self.rule(code).exponent
        wire = self.to_wire(amount, code)
        if exponent == 0:
            return str(wire)
        sign = "-" if wire < 0 else ""
        whole, frac = divmod(abs(wire), 10**exponent)
        return f"{sign}{whole}.{frac:0{exponent}d}"

    def from_decimal_string(self, value: str, currency: str) -> int:
        """A processor's decimal string as ISO minor units; ``ValueError`` if not exact."""
        code = currency.upper()
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"not a decimal amount: {value!r}") from exc
        scaled = number.scaleb(currency_exponent(code))
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value!r} has more decimals than {code} allows")
        return int(scaled)

    def refusal(self, amount: int, currency: str, *, param: str = "amount") -> InvalidRequest | None:
        """The 400 the gateway answers when this processor cannot take ``amount`` of ``currency``."""
        try:
            self.to_wire(amount, currency)
        except CurrencyRefused as refused:
            return currency_refusal_error(refused, processor=self.processor, param=param)
        return None

    def describe(self, currency: str) -> str:
        """The rule in words, for the documentation table: "2", "0", "3, last digit 0", "-"."""
        code = currency.upper()
        if code not in self.rules:
            return "-"
        rule = self.rules[code]
        text = str(rule.exponent)
        if rule.step > 1:
            text += f", a multiple of {rule.step}"
        return text

    def _not_representable(self, amount: int, currency: str, rule: WireRule) -> CurrencyRefused:
        unit = Decimal(rule.step).scaleb(-rule.exponent)
        return CurrencyRefused(
            AMOUNT_NOT_REPRESENTABLE,
            f"{self.label} takes {currency} only in steps of {unit:f}; {amount} minor units "
            f"({Decimal(amount).scaleb(-currency_exponent(currency)):f} {currency}) cannot be sent exactly "
            "and is never rounded.",
        )


def currency_refusal_error(refused: CurrencyRefused, *, processor: str, param: str = "amount") -> InvalidRequest:
    return InvalidRequest(
        refused.message,
        code=refused.code,
        param="currency" if refused.code == CURRENCY_NOT_SUPPORTED else param,
        extra={"processor": processor},
    )
