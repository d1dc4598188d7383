"""Card validation: brand detection, length by brand, Luhn, expiry, CVC; each failure names its field."""

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from payments.cards import ValidatedCard, card_brand, card_validate, luhn_check_digit, luhn_valid

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
P = "payment_method.card"


def with_check_digit(partial: str) -> str:
    return partial + luhn_check_digit(partial)


def validate(**overrides) -> ValidatedCard:
    fields = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "now": NOW}
    fields.update(overrides)
    return card_validate(**fields)


def assert_refused(code: str, param: str, **overrides) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        validate(**overrides)
    assert (info.value.code, info.value.param, info.value.status_code) == (code, param, 400)
    return info.value


@pytest.mark.parametrize(
    ("number", "brand", "cvc"),
    [
        ("4242424242424242", "visa", "123"),
        ("4000056655665556", "visa", "123"),
        ("4222222222222", "visa", "123"),  # 13 digits
        (with_check_digit("424242424242424242"), "visa", "123"),  # 19 digits
        ("5555555555554444", "mastercard", "123"),
        ("5200828282828210", "mastercard", "123"),
        ("2223003122003222", "mastercard", "123"),  # 2-series
        (with_check_digit("272099999999999"), "mastercard", "123"),
        ("378282246310005", "amex", "1234"),
        ("371449635398431", "amex", "1234"),
        ("6011111111111117", "discover", "123"),
        ("6011000990139424", "discover", "123"),
        (with_check_digit("644564456445644"), "discover", "123"),
        (with_check_digit("622126000000000"), "discover", "123"),
        ("3056930009020004", "diners", "123"),
        ("36227206271667", "diners", "123"),
        ("3566002020360505", "jcb", "123"),
        ("6200000000000005", "unionpay", "123"),
    ],
)
def test_valid_cards_are_normalised_with_their_brand(number, brand, cvc):
    card = validate(number=number, cvc=cvc)

    assert card.brand == brand
    assert card.number == number
    assert card.last4 == number[-4:]
    assert (card.exp_month, card.exp_year, card.cvc) == (12, 2030, cvc)


@pytest.mark.parametrize("number", ["4242 4242 4242 4242", "4242-4242-4242-4242", " 4242 4242-4242 4242 "])
def test_spaces_and_dashes_are_accepted(number):
    assert validate(number=number).number == "4242424242424242"


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("2220", None),
        ("2221", "mastercard"),
        ("2720", "mastercard"),
        ("2721", None),
        ("5000", None),  # Maestro range: not supported
        ("5100", "mastercard"),
        ("5599", "mastercard"),
        ("5600", None),
        ("622125", "unionpay"),
        ("622126", "discover"),
        ("622925", "discover"),
        ("622926", "unionpay"),
        ("3400", "amex"),
        ("3500", None),
        ("3528", "jcb"),
        ("3589", "jcb"),
        ("3590", None),
        ("9999", None),
    ],
)
def test_brand_range_boundaries(prefix, brand):
    detected = card_brand(prefix.ljust(16, "0"))

    assert (detected.name if detected else None) == brand


def test_unsupported_brand_is_refused_with_its_own_code():
    assert_refused("card_brand_unsupported", f"{P}.number", number=with_check_digit("500000000000000"))


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4242424242424241", "invalid_number"),  # Luhn
        ("4242x42424242424", "invalid_number"),
        ("424242424242", "invalid_number"),  # too short for visa (12 digits)
        ("42424242424", "invalid_number"),  # shorter than any card
        (with_check_digit("42424242424242"), "invalid_number"),  # 15-digit visa, Luhn-valid
        (with_check_digit("3782822463100"), "invalid_number"),  # 14-digit amex
        ("4" * 50, "invalid_number"),
        ("\uff14\uff12" * 8, "invalid_number"),  # full-width digits are not ASCII digits
        (4242424242424242.0, "invalid_number"),
        (True, "invalid_number"),
        (["4242424242424242"], "invalid_number"),
        (None, "parameter_missing"),
        ("", "parameter_missing"),
    ],
)
def test_bad_numbers_are_refused(number, code):
    error = assert_refused(code, f"{P}.number", number=number)

    assert "4242424242" not in error.message


def test_integer_number_is_accepted():
    assert validate(number=4242424242424242).number == "4242424242424242"


@pytest.mark.parametrize("month", [0, 13, -1, "ab", "1.5", True, 12.0, "12345"])
def test_bad_expiry_month(month):
    assert_refused("invalid_expiry_month", f"{P}.exp_month", exp_month=month)


@pytest.mark.parametrize("month", [None, ""])
def test_missing_expiry_month(month):
    assert_refused("parameter_missing", f"{P}.exp_month", exp_month=month)


@pytest.mark.parametrize(("month", "expected"), [("07", 7), ("1", 1), (" 12 ", 12), (3, 3)])
def test_expiry_month_forms(month, expected):
    assert validate(exp_month=month).exp_month == expected


@pytest.mark.parametrize("year", [1999, 2077, 100, "20x0", False, 2030.0])
def test_bad_expiry_year(year):
    assert_refused("invalid_expiry_year", f"{P}.exp_year", exp_year=year)


@pytest.mark.parametrize(("year", "expected"), [(30, 2030), ("30", 2030), ("2030", 2030), (2076, 2076)])
def test_expiry_year_forms(year, expected):
    assert validate(exp_year=year).exp_year == expected


def test_card_is_valid_through_the_last_moment_of_its_expiry_month_utc():
    end_of_month = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    next_month = datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)

    assert validate(exp_month=3, exp_year=2026, now=end_of_month).exp_month == 3
    with pytest.raises(InvalidRequest) as info:
        validate(exp_month=3, exp_year=2026, now=next_month)
    assert (info.value.code, info.value.param) == ("expired_card", f"{P}.exp_month")


def test_expired_in_an_earlier_year_names_the_year():
    assert_refused("expired_card", f"{P}.exp_year", exp_month=12, exp_year=2025)


def test_expired_earlier_this_year_names_the_month():
    assert_refused("expired_card", f"{P}.exp_month", exp_month=2, exp_year=2026)


@pytest.mark.parametrize(
    ("number", "cvc"),
    [
        ("4242424242424242", "1234"),
        ("4242424242424242", "12"),
        ("4242424242424242", "12a"),
        ("4242424242424242", 123),
        ("4242424242424242", "\u0661\u0662\u0663"),  # Arabic-Indic digits
        ("378282246310005", "123"),
        ("378282246310005", "12345"),
    ],
)
def test_cvc_length_by_brand(number, cvc):
    error = assert_refused("invalid_cvc", f"{P}.cvc", number=number, cvc=cvc)

    assert str(cvc) not in error.message


def test_missing_cvc_is_refused_unless_allowed():
    assert_refused("parameter_missing", f"{P}.cvc", cvc=None)

    card = validate(cvc=None, require_cvc=False)

    assert card.cvc is None


def test_present_cvc_is_checked_even_when_not_required():
    assert_refused("invalid_cvc", f"{P}.cvc", cvc="1", require_cvc=False)


def test_param_prefix_names_the_field():
    with pytest.raises(InvalidRequest) as info:
        card_validate(number="1", exp_month=1, exp_year=2030, cvc="123", param_prefix="card")
    assert info.value.param == "card.number"

    with pytest.raises(InvalidRequest) as info:
        card_validate(number="4242424242424242", exp_month=1, exp_year=2030, cvc="1", param_prefix="")
    assert info.value.param == "cvc"


def test_checks_run_in_field_order():
    # Several fields are wrong: the number is reported first, then the expiry, then the CVC.
    assert_refused("invalid_number", f"{P}.number", number="4242424242424241", exp_month=13, cvc="x")
    assert_refused("invalid_expiry_month", f"{P}.exp_month", exp_month=13, cvc="x")


def test_repr_str_and_format_are_masked():
    card = validate(cvc="987")

    for text in (repr(card), str(card), f"{card}", f"{card!r}", repr([card]), repr(card.to_card_details())):
        assert "4242424242424242" not in text
        assert "987" not in text
        assert "4242" in text


def test_to_card_details_carries_the_cvc_for_the_processor_call():
    details = validate(cvc="987").to_card_details(holder_name="Ada")

    assert (details.number, details.exp_month, details.exp_year, details.cvc, details.holder_name) == (
        "4242424242424242",
        12,
        2030,
        "987",
        "Ada",
    )


def test_validated_card_is_frozen():
    card = validate()
    with pytest.raises(AttributeError):
        card.number = "5555555555554444"  # type: ignore[misc]


# --- property-based: Luhn ------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=18)


@given(digits)
def test_luhn_check_digit_makes_any_prefix_valid(partial):
    assert luhn_valid(with_check_digit(partial))


@given(digits, st.data())
def test_luhn_detects_every_single_digit_error(partial, data):
    number = with_check_digit(partial)
    index = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[index]]))

    assert not luhn_valid(number[:index] + wrong + number[index + 1 :])


@given(digits.filter(lambda s: len(s) >= 2), st.data())
def test_luhn_detects_adjacent_transpositions_except_09(partial, data):
    number = with_check_digit(partial)
    index = data.draw(st.integers(min_value=0, max_value=len(number) - 2))
    a, b = number[index], number[index + 1]
    swapped = number[:index] + b + a + number[index + 2 :]

    assert luhn_valid(swapped) == (a == b or {a, b} == {"0", "9"})


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
@example("42424242424242")
def test_any_luhn_valid_16_digit_visa_is_accepted(body):
    number = with_check_digit("4" + body)

    card = validate(number=number)

    assert (card.brand, card.number, card.last4) == ("visa", number, number[-4:])


@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_16_digit_visa_with_wrong_check_digit_is_refused(body):
    number = "4" + body
    if luhn_valid(number):
        number = number[:-1] + str((int(number[-1]) + 1) % 10)

    assert_refused("invalid_number", f"{P}.number", number=number)


@given(
    number=st.one_of(st.text(max_size=30), st.integers(), st.none(), st.floats()),
    month=st.one_of(st.text(max_size=4), st.integers(min_value=-5, max_value=20), st.none()),
    year=st.one_of(st.text(max_size=5), st.integers(min_value=-5, max_value=3000), st.none()),
    cvc=st.one_of(st.text(max_size=5), st.integers(), st.none()),
)
def test_arbitrary_input_is_either_valid_or_a_400(number, month, year, cvc):
    try:
        card = card_validate(number=number, exp_month=month, exp_year=year, cvc=cvc, now=NOW)
    except InvalidRequest as error:
        assert error.status_code == 400
        assert error.param.startswith(f"{P}.")
    else:
        assert luhn_valid(card.number)
        assert 1 <= card.exp_month <= 12
