"""What Stripe's API accepts, for the fake Stripe server: the parameters each endpoint takes, their
types and enum values, and Stripe's currency rules. The fake refuses everything else, as Stripe does.

Parameters are transcribed from Stripe's published OpenAPI specification (github.com/stripe/openapi,
``openapi/spec3``, API version 2023-08-16, the newest complete copy available here; 2024-06-20 adds
parameters the gateway does not send), one operation each, named by its ``operationId``. Nested
parameters are checked where the gateway sends any (``payment_method_data``, ``card``,
``billing_details``, ``metadata``...); the others are known by name (``ANY``) and their content is
not checked. Leaf types: ``INT``, ``BOOL``, ``STR``, ``MAP`` (``metadata``: string values),
``enum(...)``, ``[item]`` (a list: ``a[0]``, ``a[1]``), a dict (an object).

Currencies: Stripe's docs, "Supported currencies" (docs.stripe.com/currencies) and "Minimum and
maximum charge amounts", transcribed here independently of the connector's own table so that a
test comparing the two means something.
"""

from typing import Any

INT, BOOL, STR, MAP, ANY = "int", "bool", "str", "map", "any"


def enum(*values: str) -> frozenset[str]:
    return frozenset(values)


_EXPAND = [STR]
_ADDRESS = {"city": STR, "country": STR, "line1": STR, "line2": STR, "postal_code": STR, "state": STR}
_BILLING_DETAILS = {"address": _ADDRESS, "email": STR, "name": STR, "phone": STR}
_PAYMENT_METHOD_TYPES_FOR_DATA = (  # PostPaymentIntents payment_method_data[type]: no "card"
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "au_becs_debit", "bacs_debit", "bancontact", "blik",
    "boleto", "cashapp", "customer_balance", "eps", "fpx", "giropay", "grabpay", "ideal", "klarna", "konbini", "link",
    "oxxo", "p24", "paynow", "paypal", "pix", "promptpay", "sepa_debit", "sofort", "us_bank_account", "wechat_pay",
    "zip",
)  # fmt: skip
_PAYMENT_METHOD_DATA = {
    **{name: ANY for name in _PAYMENT_METHOD_TYPES_FOR_DATA},
    "interac_present": ANY,
    "billing_details": _BILLING_DETAILS,
    "metadata": MAP,
    "radar_options": ANY,
    "type": enum(*_PAYMENT_METHOD_TYPES_FOR_DATA),
}
_PAYMENT_METHOD_TYPES = (*_PAYMENT_METHOD_TYPES_FOR_DATA, "card")

# What confirming takes, at creation (confirm=true) and at PostPaymentIntentsIntentConfirm alike.
_CONFIRMING = {
    "capture_method": enum("automatic", "automatic_async", "manual"),
    "error_on_requires_action": BOOL,
    "expand": _EXPAND,
    "mandate": STR,
    "mandate_data": ANY,
    "off_session": ANY,
    "payment_method": STR,
    "payment_method_data": _PAYMENT_METHOD_DATA,
    "payment_method_options": ANY,
    "payment_method_types": [STR],
    "radar_options": ANY,
    "receipt_email": STR,
    "return_url": STR,
    "shipping": ANY,
    "use_stripe_sdk": BOOL,
}

# operationId -> (required parameters, parameters)
OPERATIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "PostPaymentIntents": (
        ("amount", "currency"),
        {
            **_CONFIRMING,
            "amount": INT,
            "application_fee_amount": INT,
            "automatic_payment_methods": ANY,
            "confirm": BOOL,
            "confirmation_method": enum("automatic", "manual"),
            "currency": STR,
            "customer": STR,
            "description": STR,
            "metadata": MAP,
            "on_behalf_of": STR,
            "setup_future_usage": enum("off_session", "on_session"),
            "statement_descriptor": STR,
            "statement_descriptor_suffix": STR,
            "transfer_data": ANY,
            "transfer_group": STR,
        },
    ),
    "PostPaymentIntentsIntentCapture": (
        (),
        {
            "amount_to_capture": INT,
            "application_fee_amount": INT,
            "expand": _EXPAND,
            "metadata": MAP,
            "statement_descriptor": STR,
            "statement_descriptor_suffix": STR,
            "transfer_data": ANY,
        },
    ),
    "PostPaymentIntentsIntentCancel": (
        (),
        {
            "cancellation_reason": enum("abandoned", "duplicate", "fraudulent", "requested_by_customer"),
            "expand": _EXPAND,
        },
    ),
    "PostPaymentIntentsIntentConfirm": (
        (),
        {**_CONFIRMING, "client_secret": STR, "setup_future_usage": enum("", "off_session", "on_session")},
    ),
    "PostRefunds": (
        (),
        {
            "amount": INT,
            "charge": STR,
            "currency": STR,
            "customer": STR,
            "expand": _EXPAND,
            "instructions_email": STR,
            "metadata": MAP,
            "origin": enum("customer_balance"),
            "payment_intent": STR,
            "reason": enum("duplicate", "fraudulent", "requested_by_customer"),
            "refund_application_fee": BOOL,
            "reverse_transfer": BOOL,
        },
    ),
    "PostPaymentMethods": (
        (),
        {
            **{name: ANY for name in _PAYMENT_METHOD_TYPES if name != "card"},
            "interac_present": ANY,
            "billing_details": _BILLING_DETAILS,
            # card_details_params (exp_month, exp_year, number required) or token_params
            "card": {"cvc": STR, "exp_month": INT, "exp_year": INT, "number": STR, "token": STR},
            "customer": STR,
            "expand": _EXPAND,
            "metadata": MAP,
            "payment_method": STR,
            "radar_options": ANY,
            "type": enum(*_PAYMENT_METHOD_TYPES),
        },
    ),
}
# operationId -> (required query parameters, query parameters)
QUERIES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "GetPaymentIntentsIntent": ((), frozenset({"client_secret", "expand"})),
    "GetPaymentIntentsSearch": (("query",), frozenset({"expand", "limit", "page", "query"})),
    "GetRefunds": (
        (),
        frozenset({"charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"}),
    ),
    "GetRefundsRefund": ((), frozenset({"expand"})),
    "GetBalanceTransactions": (
        (),
        frozenset(
            {"created", "currency", "ending_before", "expand", "limit", "payout", "source", "starting_after", "type"}
        ),
    ),
    "GetPayouts": (
        (),
        frozenset(
            {"arrival_date", "created", "destination", "ending_before", "expand", "limit", "starting_after", "status"}
        ),
    ),
    "GetPaymentMethodsPaymentMethod": ((), frozenset({"expand"})),
    "GetDisputesDispute": ((), frozenset({"expand"})),
    "GetPayoutsPayout": ((), frozenset({"expand"})),
}


def params_problem(operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Stripe's ``invalid_request_error`` fields for the first parameter the operation does not
    take as given, or None."""
    required, schema = OPERATIONS[operation]
    for name in required:
        if name not in params:
            return {"code": "parameter_missing", "message": f"Missing required param: {name}.", "param": name}
    return _check(params, schema, "")


def query_problem(operation: str, query: dict[str, str]) -> dict[str, Any] | None:
    required, known = QUERIES[operation]
    for name in query:
        base = name.split("[", 1)[0]
        if base not in known:
            return {"code": "parameter_unknown", "message": f"Received unknown parameter: {name}", "param": name}
    for name in required:
        if name not in query:
            return {"code": "parameter_missing", "message": f"Missing required param: {name}.", "param": name}
    return None


def _check(value: Any, schema: Any, name: str) -> dict[str, Any] | None:
    if schema == ANY:
        return None
    if schema == MAP:
        if value == "" or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            return None
        return {"message": f"Invalid {name}: an object of string values is expected", "param": name}
    if isinstance(schema, dict):
        if value == "":
            return None  # an empty string unsets an object parameter
        if not isinstance(value, dict):
            return {"message": f"Invalid object: {name}", "param": name}
        for key, item in value.items():
            child = f"{name}[{key}]" if name else key
            if key not in schema:
                return {"code": "parameter_unknown", "message": f"Received unknown parameter: {child}", "param": child}
            problem = _check(item, schema[key], child)
            if problem:
                return problem
        return None
    if isinstance(schema, list):
        if not isinstance(value, dict) or not all(key.isdigit() for key in value):
            return {"message": f"Invalid array: {name}", "param": name}
        for key, item in value.items():
            problem = _check(item, schema[0], f"{name}[{key}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        return {"message": f"Invalid {name}: a value, not an object, is expected", "param": name}
    if schema == INT and not (value.lstrip("-").isdigit()):
        return {"code": "parameter_invalid_integer", "message": f"Invalid integer: {value}", "param": name}
    if schema == BOOL and value not in ("true", "false"):
        return {"message": f"Invalid boolean: {value}", "param": name}
    if isinstance(schema, frozenset) and value not in schema:
        return {"message": f"Invalid {name}: must be one of {', '.join(sorted(schema))}", "param": name}
    return None


# --- currencies (docs.stripe.com/currencies) ---------------------------------------------------------
# Presentment currencies, lower case as the API takes them, by the number of decimals of their
# amounts in the API. "Zero-decimal currencies" are listed as such; BHD JOD KWD OMR TND are the
# three-decimal ones; every other listed currency is two-decimal, ISK included ("ISK will remain a
# two-decimal currency in the Stripe API, and an ISK amount of 100 will continue to represent 1 krona").
def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


ZERO_DECIMAL = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
THREE_DECIMAL = _codes("bhd jod kwd omr tnd")
TWO_DECIMAL = _codes(
    """usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd cad cdf chf cny
    cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd hnl htg huf idr ils inr isk jmd kes
    kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab
    pen pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd szl thb tjs top try ttd twd tzs uah uyu
    uzs wst xcd yer zar zmw"""
)
# "Special cases": the last digit of a three-decimal amount must be 0; ISK amounts must be evenly
# divisible by 100 (400 invalid_charge_amount_no_decimal_compatible) since 14 April 2023.
AMOUNT_STEP = {**dict.fromkeys(THREE_DECIMAL, 10), "isk": 100}
# "The amount value supports up to eight digits".
MAX_AMOUNT = 99_999_999
# "Minimum and maximum charge amounts" (those stated in the currency itself).
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip


def decimals(currency: str) -> int | None:
    """Stripe's decimals for a currency code, None if Stripe does not support it."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in TWO_DECIMAL:
        return 2
    return None


def amount_problem(amount: int, currency: str, *, param: str, charge: bool) -> dict[str, Any] | None:
    """Stripe's refusal of an amount in a currency (PaymentIntents, captures and refunds alike)."""
    code = currency.lower()
    if decimals(code) is None:
        return {
            "message": f"Invalid currency: {code}. Stripe currently supports these currencies: ...",
            "param": "currency",
        }
    if amount < 1 or (charge and amount < MINIMUM_CHARGE.get(code, 1)):
        return {"code": "amount_too_small", "message": "Amount must be at least the minimum charge.", "param": param}
    if amount > MAX_AMOUNT:
        return {"code": "amount_too_large", "message": "Amount must be no more than 99999999.", "param": param}
    step = AMOUNT_STEP.get(code, 1)
    if amount % step:
        return {
            "code": "invalid_charge_amount_no_decimal_compatible" if code == "isk" else "invalid_charge_amount",
            "message": f"Invalid amount: {code.upper()} amounts must be evenly divisible by {step}.",
            "param": param,
        }
    return None


# The range operators Stripe takes on a timestamp filter (``created[gte]=...``), or a bare value.
RANGE_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
PAYOUT_STATUSES = frozenset({"canceled", "failed", "in_transit", "paid", "pending"})
