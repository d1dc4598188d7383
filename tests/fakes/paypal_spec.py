"""What PayPal's REST API accepts, for the fake PayPal server, from PayPal's published OpenAPI
specifications (github.com/paypal/paypal-rest-api-specifications: ``checkout_orders_v2``,
``payments_payment_v2``, ``notifications_webhooks_v1``), each rule named by its operation, and
PayPal's "Currency codes" page. Transcribed independently of the connector's own tables.

Errors are PayPal's shape ``{name, message, debug_id, details[{field, issue, description}]}``.
"""

import json
import re
import secrets
from decimal import Decimal
from typing import Any

from .base import Reply

# "Currency codes": the currencies PayPal takes, and those that take no decimals ("This currency
# does not support decimals. Decimal amounts cause an error."). Every other one has two.
_LISTED = "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP SGD SEK CHF THB USD"
CURRENCIES = frozenset(_LISTED.split(" "))
NO_DECIMALS = frozenset({"HUF", "JPY", "TWD"})
# money.value: "maxLength": 32, "pattern": "^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$"
_MONEY_VALUE = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")
# verify-webhook-signature.post: webhook_id "pattern": "^[a-zA-Z0-9]+$", "maxLength": 50;
# auth_algo "pattern": "^[a-zA-Z0-9]+$". (The spec also gives transmission_id and transmission_sig
# "^(?!\d+$)\w+\S+", which a base64 signature starting with "+" or "/" would fail: PayPal's own
# signatures cannot be held to it, so the fake does not either.)
WEBHOOK_ID = re.compile(r"^[a-zA-Z0-9]{1,50}$")
_AUTH_ALGO = re.compile(r"^[a-zA-Z0-9]{1,100}$")
# orders.create, paypal_wallet_experience_context enums.
EXPERIENCE_ENUMS = {
    "shipping_preference": frozenset({"GET_FROM_FILE", "NO_SHIPPING", "SET_PROVIDED_ADDRESS"}),
    "landing_page": frozenset({"LOGIN", "GUEST_CHECKOUT", "NO_PREFERENCE"}),
    "user_action": frozenset({"CONTINUE", "PAY_NOW"}),
    "payment_method_preference": frozenset({"UNRESTRICTED", "IMMEDIATE_PAYMENT_REQUIRED"}),
}
INTENTS = frozenset({"CAPTURE", "AUTHORIZE"})  # checkout_payment_intent


def error(status: int, name: str, issue: str, description: str = "", field: str | None = None) -> Reply:
    detail = {"issue": issue, "description": description or issue}
    if field:
        detail["field"] = field
    messages = {
        400: "Request is not well-formed, syntactically incorrect, or violates schema.",
        409: "The server has detected a conflict while processing this request.",
        422: "The requested action could not be performed, semantically incorrect, or failed business validation.",
    }
    return Reply(
        status,
        {
            "name": name,
            "message": messages.get(status, "The requested action could not be performed."),
            "debug_id": secrets.token_hex(6),
            "details": [detail],
        },
    )


def invalid(issue: str, field: str, description: str = "") -> Reply:
    return error(400, "INVALID_REQUEST", issue, description, field)


def unprocessable(issue: str, field: str | None = None) -> Reply:
    return error(422, "UNPROCESSABLE_ENTITY", issue, field=field)


def in_progress() -> Reply:
    """409 ``RESOURCE_CONFLICT`` / ``PREVIOUS_REQUEST_IN_PROGRESS`` (captures.refund, authorizations.void)."""
    return error(
        409,
        "RESOURCE_CONFLICT",
        "PREVIOUS_REQUEST_IN_PROGRESS",
        "A previous request on this resource is currently in progress. Please wait for sometime and try again.",
    )


def money_problem(value: Any, field: str) -> Reply | None:
    """A ``money`` object PayPal refuses: 400 for the schema, 422 for the currency's rules
    (INVALID_CURRENCY_CODE, DECIMALS_NOT_SUPPORTED, DECIMAL_PRECISION, CANNOT_BE_ZERO_OR_NEGATIVE)."""
    if not isinstance(value, dict) or "currency_code" not in value or "value" not in value:
        return invalid("MISSING_REQUIRED_PARAMETER", field)
    currency, amount = value["currency_code"], value["value"]
    if not isinstance(amount, str) or len(amount) > 32 or not _MONEY_VALUE.match(amount):
        return invalid("INVALID_PARAMETER_SYNTAX", f"{field}/value")
    if not isinstance(currency, str) or len(currency) != 3:
        return invalid("INVALID_STRING_LENGTH", f"{field}/currency_code")
    if currency not in CURRENCIES:
        return unprocessable("INVALID_CURRENCY_CODE", f"{field}/currency_code")
    decimals = len(amount.split(".")[1]) if "." in amount else 0
    if currency in NO_DECIMALS and decimals:
        return unprocessable("DECIMALS_NOT_SUPPORTED", f"{field}/value")
    if decimals > 2:
        return unprocessable("DECIMAL_PRECISION", f"{field}/value")
    if Decimal(amount) <= 0:
        return unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", f"{field}/value")
    return None


def order_request_problem(body: Any) -> Reply | None:
    """orders.create: ``order_request`` (required intent, purchase_units; 1..10 units, each with
    an amount; custom_id and description at most 127 characters; the enums)."""
    if not isinstance(body, dict):
        return invalid("MALFORMED_REQUEST_JSON", "/")
    if body.get("intent") not in INTENTS:
        return invalid("INVALID_PARAMETER_VALUE", "/intent")
    units = body.get("purchase_units")
    if not isinstance(units, list) or not units:
        return invalid("MISSING_REQUIRED_PARAMETER", "/purchase_units")
    if len(units) > 10:
        return invalid("INVALID_ARRAY_MAX_ITEMS", "/purchase_units")
    for index, unit in enumerate(units):
        for name, limit in (("custom_id", 127), ("description", 127), ("invoice_id", 127), ("reference_id", 256)):
            if name in unit and (not isinstance(unit[name], str) or not 1 <= len(unit[name]) <= limit):
                return invalid("INVALID_STRING_LENGTH", f"/purchase_units/{index}/{name}")
        problem = money_problem(unit.get("amount"), f"/purchase_units/{index}/amount")
        if problem:
            return problem
    experience = ((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context") or {}
    for name, allowed in EXPERIENCE_ENUMS.items():
        if name in experience and experience[name] not in allowed:
            return invalid("INVALID_PARAMETER_VALUE", f"/payment_source/paypal/experience_context/{name}")
    return None


def verification_problem(fields: dict[str, Any]) -> Reply | None:
    """verify-webhook-signature.post: every field required, in its documented pattern."""
    required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
    for name in required:
        if not isinstance(fields.get(name), str) or not fields[name]:
            return error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER", field=name)
    for name, pattern in (("webhook_id", WEBHOOK_ID), ("auth_algo", _AUTH_ALGO)):
        if not pattern.match(fields[name]):
            return error(400, "VALIDATION_ERROR", "INVALID_PARAMETER_SYNTAX", field=name)
    return None


def raw_member(text: str, name: str) -> str | None:
    """The exact text of the top-level member ``name`` of a JSON object (PayPal signs the event's
    bytes as sent, so verification must see them, not a re-encoding)."""
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if index >= len(text) or text[index] != "{":
        return None
    index += 1
    while True:
        index = _skip(text, index)
        if index < len(text) and text[index] == "}":
            return None
        key, index = decoder.raw_decode(text, index)
        index = _skip(text, index)
        if text[index] != ":":
            return None
        start = _skip(text, index + 1)
        _, end = decoder.raw_decode(text, start)
        if key == name:
            return text[start:end]
        index = _skip(text, end)
        if index < len(text) and text[index] == ",":
            index += 1


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


# reporting_transactions_v1 search.get: the query parameters it lists; start_date and end_date are
# required, RFC 3339 with seconds ("pattern" below), at most 31 days apart; page_size 1..500.
SEARCH_PARAMETERS = frozenset(
    {
        "transaction_id", "transaction_type", "transaction_status", "transaction_amount", "transaction_currency",
        "start_date", "end_date", "payment_instrument_type", "store_id", "terminal_id", "fields",
        "balance_affecting_records_only", "page_size", "page",
    }
)  # fmt: skip
SEARCH_DATE = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])[T,t]([0-1][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
SEARCH_FIELDS = frozenset(
    {"all", "transaction_info", "payer_info", "shipping_info", "auction_info", "cart_info", "incentive_info",
     "store_info"}
)  # fmt: skip
SEARCH_MAX_DAYS = 31
SEARCH_MAX_PAGE_SIZE = 500
