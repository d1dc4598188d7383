"""Card validation: Luhn, brand detection, length by brand, expiry, CVC length by brand.

Every failure is a 400 ``InvalidRequest`` whose ``param`` names the field
(``payment_method.card.number`` ...). Messages never contain the number or the CVC.

Brands: visa, mastercard (51-55 and the 2221-2720 series), amex, discover, diners, jcb, unionpay.
A number matching none of them is refused with ``card_brand_unsupported``: every processor we
route to needs a known network, and the API shows the brand, so "unknown" would only defer the
failure to the processor.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import InvalidRequest
from processors.base import CardDetails

MAX_EXPIRY_YEARS_AHEAD = 50
_MAX_RAW_NUMBER_LENGTH = 40  # digits plus separators; anything longer is not a card number


@dataclass(frozen=True)
class Brand:
    name: str
    # (low, high) inclusive ranges over the first len(str(low)) digits
    ranges: tuple[tuple[int, int], ...]
    lengths: frozenset[int]
    cvc_length: int = 3


# Order matters where ranges overlap: Discover's 622126-622925 is checked before UnionPay's 62.
BRANDS: tuple[Brand, ...] = (
    Brand("amex", ((34, 34), (37, 37)), frozenset({15}), cvc_length=4),
    Brand("visa", ((4, 4),), frozenset({13, 16, 19})),
    Brand("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    Brand("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), frozenset({16, 17, 18, 19})),
    Brand("diners", ((300, 305), (309, 309), (36, 36), (38, 39)), frozenset({14, 15, 16, 17, 18, 19})),
    Brand("jcb", ((3528, 3589),), frozenset({16, 17, 18, 19})),
    Brand("unionpay", ((62, 62), (81, 81)), frozenset({16, 17, 18, 19})),
)
BRAND_NAMES = tuple(b.name for b in BRANDS)


@dataclass(frozen=True)
class ValidatedCard:
    number: str  # digits only
    exp_month: int
    exp_year: int  # four digits
    cvc: str | None
    brand: str
    last4: str

    def __repr__(self) -> str:
        return f"ValidatedCard({self.brand} ****{self.last4}, {self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__

    def to_card_details(self, *, holder_name: str = "") -> CardDetails:
        """For the one processor call (carries the CVC in memory only)."""
        return CardDetails(
            number=self.number,
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            cvc=self.cvc,
            holder_name=holder_name,
        )


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass Luhn."""
    for candidate in "0123456789":
        if luhn_valid(partial + candidate):
            return candidate
    raise ValueError("partial must be digits")  # unreachable for digit strings


def card_brand(digits: str) -> Brand | None:
    for brand in BRANDS:
        for low, high in brand.ranges:
            width = len(str(low))
            if len(digits) >= width and low <= int(digits[:width]) <= high:
                return brand
    return None


def _invalid(message: str, *, code: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, code=code, param=param)


def _normalise_number(number: object, *, param: str) -> str:
    if number is None or number == "":
        raise _invalid("The card number is required.", code="parameter_missing", param=param)
    if isinstance(number, bool) or not isinstance(number, (str, int)):
        raise _invalid("The card number must be a string of digits.", code="invalid_number", param=param)
    raw = str(number)
    if len(raw) > _MAX_RAW_NUMBER_LENGTH:
        raise _invalid("The card number is not a valid card number.", code="invalid_number", param=param)
    digits = raw.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit():
        raise _invalid(
            "The card number may contain only digits, spaces and dashes.", code="invalid_number", param=param
        )
    return digits


def _int_field(value: object, *, param: str, code: str, label: str) -> int:
    if value is None or value == "":
        raise _invalid(f"The card's {label} is required.", code="parameter_missing", param=param)
    if isinstance(value, bool):
        raise _invalid(f"The card's {label} must be an integer.", code=code, param=param)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 4:
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise _invalid(f"The card's {label} must be an integer.", code=code, param=param)


def card_validate(
    *,
    number: object,
    exp_month: object,
    exp_year: object,
    cvc: object,
    param_prefix: str = "payment_method.card",
    require_cvc: bool = True,
    now: datetime | None = None,
) -> ValidatedCard:
    """Validate raw card input (as it came in the request) and normalise it.

    ``exp_year`` may have two digits (``27`` -> 2027). ``require_cvc=False`` accepts a missing CVC
    (e.g. a saved card paid by id); a CVC that is present is always checked.
    """
    p = f"{param_prefix}." if param_prefix else ""
    now = now or datetime.now(UTC)

    digits = _normalise_number(number, param=f"{p}number")
    brand = card_brand(digits)
    if not 12 <= len(digits) <= 19:
        raise _invalid("The card number is not a valid card number.", code="invalid_number", param=f"{p}number")
    if brand is None:
        raise _invalid(
            f"This card brand is not supported (supported: {', '.join(BRAND_NAMES)}).",
            code="card_brand_unsupported",
            param=f"{p}number",
        )
    if len(digits) not in brand.lengths or not luhn_valid(digits):
        raise _invalid("The card number is not a valid card number.", code="invalid_number", param=f"{p}number")

    month = _int_field(exp_month, param=f"{p}exp_month", code="invalid_expiry_month", label="expiration month")
    if not 1 <= month <= 12:
        raise _invalid(
            "The card's expiration month must be between 1 and 12.", code="invalid_expiry_month", param=f"{p}exp_month"
        )
    year = _int_field(exp_year, param=f"{p}exp_year", code="invalid_expiry_year", label="expiration year")
    if 0 <= year <= 99 and not (isinstance(exp_year, str) and len(exp_year.strip()) > 2):
        year += 2000
    if not 2000 <= year <= now.year + MAX_EXPIRY_YEARS_AHEAD:
        raise _invalid("The card's expiration year is invalid.", code="invalid_expiry_year", param=f"{p}exp_year")
    # A card is valid through the last day of its expiry month (UTC).
    if (year, month) < (now.year, now.month):
        raise _invalid(
            "The card has expired.",
            code="expired_card",
            param=f"{p}exp_year" if year < now.year else f"{p}exp_month",
        )

    cvc_value: str | None = None
    if cvc is None or cvc == "":
        if require_cvc:
            raise _invalid("The card's security code is required.", code="parameter_missing", param=f"{p}cvc")
    else:
        if not isinstance(cvc, str) or not cvc.isascii() or not cvc.isdigit() or len(cvc) != brand.cvc_length:
            raise _invalid(
                f"The card's security code must be {brand.cvc_length} digits.", code="invalid_cvc", param=f"{p}cvc"
            )
        cvc_value = cvc

    return ValidatedCard(
        number=digits, exp_month=month, exp_year=year, cvc=cvc_value, brand=brand.name, last4=digits[-4:]
    )
