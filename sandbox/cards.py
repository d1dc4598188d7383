"""The sandbox's test cards (Stripe's numbers) and what each one does, the network a processor
reads off a number, and the messages of its declines."""

from dataclasses import dataclass


@dataclass(frozen=True)
class CardScenario:
    kind: str  # success | decline | three_ds | disputed (succeeds, then a dispute opens after capture)
    decline_code: str | None = None
    error_code: str | None = None
    message: str | None = None


DECLINED = "Your card was declined."
DISPUTED_CARD = "4000000000000259"  # Stripe's: the charge succeeds, then a fraudulent dispute opens
EXPIRED_CARD = "4000000000000069"
TEST_CARDS: dict[str, CardScenario] = {
    "4242424242424242": CardScenario("success"),
    "5555555555554444": CardScenario("success"),
    "4000000000000002": CardScenario("decline", "generic_decline", "card_declined", DECLINED),
    "4000000000009995": CardScenario(
        "decline", "insufficient_funds", "card_declined", "Your card has insufficient funds."
    ),
    "4000000000009987": CardScenario("decline", "lost_card", "card_declined", DECLINED),
    "4000000000009979": CardScenario("decline", "stolen_card", "card_declined", DECLINED),
    EXPIRED_CARD: CardScenario("decline", "expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": CardScenario(
        "decline", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "4000000000000119": CardScenario(
        "decline",
        None,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000002500003155": CardScenario("three_ds"),
    DISPUTED_CARD: CardScenario("disputed"),
}
# Error codes of declines the customer may simply retry with the same card.
RETRYABLE_ERROR_CODES = frozenset({"processing_error"})

AUTHENTICATION_FAILED = {
    "decline_code": "authentication_failed",
    "error_code": "authentication_required",
    "message": "The customer failed 3-D Secure authentication.",
}
PAYPAL_CANCELED = {
    "decline_code": "",
    "error_code": "payment_method_canceled",
    "message": "The customer cancelled the PayPal approval.",
}


def card_scenario(number: str) -> CardScenario:
    """What the card does; any number that is not a test card succeeds."""
    return TEST_CARDS.get(number, CardScenario("success"))


def card_brand_guess(number: str) -> str:
    """The network as a processor reads it off the number (the gateway validated it already)."""
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "64", "65")):
        return "discover"
    if number[:4].isdigit() and 3528 <= int(number[:4]) <= 3589:
        return "jcb"
    if number.startswith(("36", "38", "39", "30")):
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def decline_message(*, error_code: str, decline_code: str | None) -> str:
    """The message of a recorded decline, as the processor words it."""
    if error_code == AUTHENTICATION_FAILED["error_code"]:
        return AUTHENTICATION_FAILED["message"]
    if error_code == PAYPAL_CANCELED["error_code"]:
        return PAYPAL_CANCELED["message"]
    for scenario in TEST_CARDS.values():
        if scenario.error_code == error_code and scenario.decline_code == (decline_code or None):
            return scenario.message or DECLINED
    return DECLINED
