"""Stripe's test cards and test PaymentMethods (docs.stripe.com/testing), for the fake Stripe."""

# number -> (kind, code, decline_code): Stripe's test cards (docs.stripe.com/testing).
CARDS: dict[str, tuple[str, str | None, str | None]] = {
    "4242424242424242": ("success", None, None),
    "5555555555554444": ("success", None, None),
    "4000000000000002": ("decline", "card_declined", "generic_decline"),
    "4000000000009995": ("decline", "card_declined", "insufficient_funds"),
    "4000000000009987": ("decline", "card_declined", "lost_card"),
    "4000000000009979": ("decline", "card_declined", "stolen_card"),
    "4000000000000069": ("decline", "expired_card", "expired_card"),
    "4000000000000127": ("decline", "incorrect_cvc", "incorrect_cvc"),
    "4000000000000119": ("decline", "processing_error", None),
    "4000002500003155": ("3ds", None, None),
}
# Stripe's test PaymentMethods (docs.stripe.com/testing, "PaymentMethods" tab) and their cards.
TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_visa_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    # The same declines without the brand in the name (as the tok_chargeDeclined... tokens).
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return len(digits) >= 12 and checksum % 10 == 0
