"""The hosted page's forms. The card form's values live only in this request's memory: a form
with errors is re-rendered without the number and the CVC (``CardForm.safe_initial``)."""

import re

from django import forms

from gateway.errors import InvalidRequest
from payments.services import payment_method_parse

# payments' card parameters -> the page's fields (the expiry is one field: "MM / YY").
_FIELD_FOR_PARAM = {
    "payment_method.card.number": "number",
    "payment_method.card.exp_month": "expiry",
    "payment_method.card.exp_year": "expiry",
    "payment_method.card.cvc": "cvc",
}
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*$")


class CardForm(forms.Form):
    number = forms.CharField(max_length=32, error_messages={"required": "Enter your card number."})
    expiry = forms.CharField(max_length=9, error_messages={"required": "Enter the expiry date (MM / YY)."})
    cvc = forms.CharField(max_length=4, error_messages={"required": "Enter the security code."})
    name = forms.CharField(max_length=200, error_messages={"required": "Enter the name on the card."})
    save_card = forms.BooleanField(required=False)

    def clean_number(self) -> str:
        return re.sub(r"[\s-]", "", self.cleaned_data["number"])

    def clean_expiry(self) -> tuple[int, int]:
        match = _EXPIRY.match(self.cleaned_data["expiry"])
        if not match:
            raise forms.ValidationError("Enter the expiry date as MM / YY.")
        month, year = int(match.group(1)), int(match.group(2))
        return month, year + 2000 if year < 100 else year

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        month, year = data["expiry"]
        card = {"number": data["number"], "exp_month": month, "exp_year": year, "cvc": data["cvc"].strip()}
        try:
            # Luhn, length, brand, expiry and CVC length: the same checks as the API, done once.
            data["payment_method"] = payment_method_parse({"type": "card", "card": card})
        except InvalidRequest as exc:
            self.add_error(_FIELD_FOR_PARAM.get(exc.param or "", "number"), _customer_message(exc))
        return data

    def add_payment_error(self, *, param: str | None, message: str) -> None:
        self.add_error(_FIELD_FOR_PARAM.get(param or "", "number"), message)

    def safe_initial(self) -> dict[str, str]:
        """What the re-rendered form may show again: never the number or the CVC."""
        return {"expiry": self.data.get("expiry", "")[:9], "name": self.data.get("name", "")[:200]}


def _customer_message(exc: InvalidRequest) -> str:
    if exc.code == "invalid_number":
        return "Your card number is not valid."
    if exc.code in ("invalid_expiry_month", "invalid_expiry_year"):
        return "The expiry date is not valid."
    if exc.code == "expired_card" or "expired" in exc.message:
        return "Your card has expired."
    if exc.code == "invalid_cvc":
        return exc.message.replace("The card's security code", "The security code")
    return exc.message


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254, error_messages={"required": "Enter your email address."})
    password = forms.CharField(max_length=1024, error_messages={"required": "Enter your password."})


class SavedCardForm(forms.Form):
    payment_method = forms.RegexField(regex=r"^pm_[0-9a-z]{26}$", error_messages={"required": "Choose a saved card."})
