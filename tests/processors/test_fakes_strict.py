"""The fakes refuse what Stripe and PayPal refuse, and answer in their shapes: each rule of
``tests/fakes/stripe_spec.py`` and ``paypal_spec.py`` seen failing once, over HTTP."""

import json
from typing import Any

import pytest
import requests

from processors.stripe import TEST_PAYMENT_METHODS
from tests.conftest import REQUEST_TIMEOUT_SECONDS
from tests.fakes import stripe as fake_stripe_module
from tests.fakes.stripe_spec import OPERATIONS


def _private_keys(value: Any, path: str = "") -> list[str]:
    """Keys of the fake's own bookkeeping (``_order_id``, ``created_seq``...) anywhere in a reply."""
    if isinstance(value, dict):
        found = [f"{path}.{key}" for key in value if key.startswith("_") or key.endswith("_seq")]
        return found + [p for key, item in value.items() for p in _private_keys(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _private_keys(item, f"{path}[{index}]")]
    return []


# --- Stripe ---------------------------------------------------------------------------------------------


def _stripe(fake, method: str, path: str, body: str = "", *, content_type: str | None = "form", **headers: str):
    sent = {"Authorization": f"Bearer {fake.secret_key}", **headers}
    if content_type:
        sent["Content-Type"] = "application/x-www-form-urlencoded" if content_type == "form" else content_type
    return requests.request(method, f"{fake.base_url}{path}", data=body, headers=sent, timeout=REQUEST_TIMEOUT_SECONDS)


PAY = "amount=2000&currency=usd&confirm=true&payment_method=pm_card_visa&payment_method_types[0]=card"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (PAY + "&colour=blue", "colour", "parameter_unknown"),  # PostPaymentIntents takes no "colour"
        (PAY + "&payment_method_data[card][number]=4242424242424242", "payment_method_data[card]", "parameter_unknown"),
        (PAY + "&capture_method=later", "capture_method", None),  # not in its enum
        (PAY + "&confirm=yes", "confirm", None),  # not a boolean
        ("currency=usd&payment_method=pm_card_visa", "amount", "parameter_missing"),
        (PAY.replace("2000", "20.00"), "amount", "parameter_invalid_integer"),
        (PAY.replace("usd", "irr"), "currency", None),  # not a Stripe currency
        (PAY.replace("usd", "kwd").replace("2000", "2005"), "amount", "invalid_charge_amount"),  # last digit 0
        (PAY.replace("usd", "isk").replace("2000", "2050"), "amount", "invalid_charge_amount_no_decimal_compatible"),
        (PAY.replace("2000", "100000000"), "amount", "amount_too_large"),  # up to eight digits
        (PAY.replace("2000", "49"), "amount", "amount_too_small"),  # USD minimum charge 0.50
        (PAY.replace("pm_card_visa", "pm_nonexistent"), "payment_method", "resource_missing"),
    ],
)
def test_stripe_refuses_payment_intents_outside_its_api(fake_stripe, body, param, code):
    reply = _stripe(fake_stripe, "POST", "/v1/payment_intents", body)
    error = reply.json()["error"]
    assert (reply.status_code, error["type"], error.get("param"), error.get("code")) == (
        400,
        "invalid_request_error",
        param,
        code,
    )
    assert fake_stripe.intents == {}


def test_stripe_refuses_a_post_without_content_type_and_unknown_query_parameters(fake_stripe):
    assert _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY, content_type=None).status_code == 400
    assert _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY, content_type="application/json").status_code == 400
    listed = _stripe(fake_stripe, "GET", "/v1/refunds?payment=pi_1", content_type=None)
    assert (listed.status_code, listed.json()["error"]["code"]) == (400, "parameter_unknown")
    held = _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY.replace("confirm=true", "confirm=false")).json()
    cancel = _stripe(fake_stripe, "POST", f"/v1/payment_intents/{held['id']}/cancel", "cancellation_reason=bored")
    assert (cancel.status_code, cancel.json()["error"]["param"]) == (400, "cancellation_reason")


def test_stripe_refuses_an_idempotency_key_reused_on_another_endpoint(fake_stripe):
    card = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2040"
    first = _stripe(fake_stripe, "POST", "/v1/payment_methods", card, **{"Idempotency-Key": "att_1"})
    again = _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY, **{"Idempotency-Key": "att_1"})
    assert first.status_code == 200
    assert (again.status_code, again.json()["error"]["type"]) == (400, "idempotency_error")


def test_stripe_answers_in_stripes_object_shapes(fake_stripe):
    card = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2040&card[cvc]=123"
    pm = _stripe(fake_stripe, "POST", "/v1/payment_methods", card).json()
    pi = _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY.replace("pm_card_visa", pm["id"])).json()
    refund = _stripe(fake_stripe, "POST", "/v1/refunds", f"payment_intent={pi['id']}&amount=500").json()
    listed = _stripe(fake_stripe, "GET", f"/v1/refunds?payment_intent={pi['id']}", content_type=None).json()
    search = _stripe(fake_stripe, "GET", "/v1/payment_intents/search?query=metadata['x']:'y'", content_type=None).json()
    # the required fields of each object in Stripe's specification, livemode, ids for expandable fields
    required = {"amount", "capture_method", "confirmation_method", "created", "currency", "id", "livemode"}
    assert required | {"object", "payment_method_types", "status"} <= set(pi)
    assert (pi["livemode"], pi["payment_method"], pi["object"]) == (False, pm["id"], "payment_intent")
    assert {"billing_details", "created", "id", "livemode", "object", "type"} <= set(pm) and "number" not in pm["card"]
    assert {"amount", "created", "currency", "id", "object"} <= set(refund)
    assert (listed["object"], listed["url"], listed["data"]) == ("list", "/v1/refunds", [refund])
    assert (search["object"], search["url"]) == ("search_result", "/v1/payment_intents/search")
    assert _private_keys([pm, pi, refund, listed, search]) == []
    assert "return_url" not in pi  # not a PaymentIntent field


def test_every_test_payment_method_the_connector_knows_exists_at_stripe(fake_stripe):
    # Stripe's documented test PaymentMethods, each standing for the same test card as in the connector
    for number, token in TEST_PAYMENT_METHODS.items():
        assert fake_stripe_module.TOKENS.get(token) == number, token
        reply = _stripe(fake_stripe, "POST", "/v1/payment_intents", PAY.replace("pm_card_visa", token))
        kind, code, _ = fake_stripe_module.CARDS[number]
        if kind == "decline":
            assert (reply.status_code, reply.json()["error"]["code"]) == (402, code), token
        else:
            assert reply.json()["status"] == ("requires_action" if kind == "3ds" else "succeeded"), token


def test_the_fakes_operations_are_stripes():
    # the operations the fake serves, each one named as in Stripe's specification
    served = {operation for _, _, operation in fake_stripe_module._ROUTES if operation.startswith("Post")}
    assert served == set(OPERATIONS)


# --- PayPal ------------------------------------------------------------------------------------------------


def _paypal_token(fake) -> str:
    reply = requests.post(
        f"{fake.base_url}/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(fake.client_id, fake.client_secret),
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    return reply.json()["access_token"]


def _paypal(fake, path: str, body: Any = None, *, raw: bytes | None = None, request_id: str | None = "req-1", **h):
    headers = {"Authorization": f"Bearer {_paypal_token(fake)}", "Content-Type": "application/json", **h}
    if request_id:
        headers["PayPal-Request-Id"] = request_id
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    return requests.post(f"{fake.base_url}{path}", data=data, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)


def _order(value: str = "10.00", currency: str = "USD", **changes: Any) -> dict[str, Any]:
    body = {
        "intent": "CAPTURE",
        "purchase_units": [{"custom_id": "att_1", "amount": {"currency_code": currency, "value": value}}],
        "payment_source": {"paypal": {"experience_context": {"return_url": "https://x.example/r"}}},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "status", "issue"),
    [
        (_order("10.50", "HUF"), 422, "DECIMALS_NOT_SUPPORTED"),  # HUF, JPY, TWD: no decimals
        (_order("10.5", "JPY"), 422, "DECIMALS_NOT_SUPPORTED"),
        (_order("1.234", "USD"), 422, "DECIMAL_PRECISION"),
        (_order("1.234", "KWD"), 422, "INVALID_CURRENCY_CODE"),  # not a PayPal currency
        (_order("0.00"), 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
        (_order("10,00"), 400, "INVALID_PARAMETER_SYNTAX"),  # money.value pattern
        (_order(intent="SALE"), 400, "INVALID_PARAMETER_VALUE"),  # checkout_payment_intent enum
        (
            _order(payment_source={"paypal": {"experience_context": {"user_action": "BUY"}}}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ],
)
def test_paypal_refuses_orders_outside_its_api(fake_paypal, body, status, issue):
    reply = _paypal(fake_paypal, "/v2/checkout/orders", body)
    assert (reply.status_code, reply.json()["details"][0]["issue"]) == (status, issue)
    assert fake_paypal.orders == {}


def test_paypal_refuses_a_missing_request_id_and_content_type(fake_paypal):
    missing = _paypal(fake_paypal, "/v2/checkout/orders", _order(), request_id=None)
    assert (missing.status_code, missing.json()["details"][0]["issue"]) == (400, "PAYPAL_REQUEST_ID_REQUIRED")
    untyped = _paypal(fake_paypal, "/v2/checkout/orders", _order(), **{"Content-Type": "text/plain"})
    assert untyped.status_code == 415
    assert fake_paypal.orders == {}


def test_paypal_verification_takes_only_its_webhook_ids_and_the_event_as_sent(fake_paypal):
    body, headers = fake_paypal.webhook(fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "note": "é"}))
    fields = {
        "auth_algo": headers["PAYPAL-AUTH-ALGO"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
    }

    def verify(webhook_id: str, event: bytes):
        raw = json.dumps({**fields, "webhook_id": webhook_id})[:-1].encode() + b', "webhook_event": ' + event + b"}"
        return _paypal(fake_paypal, "/v1/notifications/verify-webhook-signature", raw=raw, request_id=None)

    assert verify(fake_paypal.webhook_id, body).json() == {"verification_status": "SUCCESS"}
    reencoded = json.dumps(json.loads(body), ensure_ascii=False).encode()  # same event, other bytes
    assert verify(fake_paypal.webhook_id, reencoded).json() == {"verification_status": "FAILURE"}
    dashed = verify("WH-1", body)  # webhook_id: ^[a-zA-Z0-9]+$
    assert (dashed.status_code, dashed.json()["name"]) == (400, "VALIDATION_ERROR")


def test_paypal_answers_in_paypals_shapes_and_issues(fake_paypal):
    order = _paypal(fake_paypal, "/v2/checkout/orders", _order("10.00", intent="AUTHORIZE"), request_id="o1").json()
    fake_paypal.approve(order["id"])
    authorized = _paypal(fake_paypal, f"/v2/checkout/orders/{order['id']}/authorize", {}, request_id="a1").json()
    [auth] = authorized["purchase_units"][0]["payments"]["authorizations"]
    path = f"/v2/payments/authorizations/{auth['id']}/void"
    first = _paypal(fake_paypal, path, request_id=None, Prefer="return=representation")
    again = _paypal(fake_paypal, path, request_id=None)
    assert (first.status_code, first.json()["status"]) == (200, "VOIDED")
    assert (again.status_code, again.json()["details"][0]["issue"]) == (422, "PREVIOUSLY_VOIDED")  # void-422
    assert auth["supplementary_data"]["related_ids"]["order_id"] == order["id"]
    assert _private_keys([order, authorized, first.json(), list(fake_paypal.orders.values())]) == []
