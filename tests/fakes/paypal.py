"""A fake PayPal REST API: OAuth2 client credentials, Orders v2, Payments v2 (authorization
capture/void, capture refund), webhook signature verification. JSON in and out, PayPal's error
shape ``{name, message, debug_id, details[{field, issue, description}]}``.

Idempotency as PayPal documents it: a repeated ``PayPal-Request-Id`` returns the first response.
The buyer's side (approving on PayPal) is ``approve(order_id, funding=...)`` or the approve link
itself (``GET /checkoutnow?token=...``), which redirects to the order's return URL.

Webhook signatures: PayPal signs with a certificate; this fake signs
``transmission_id|transmission_time|webhook_id|crc32(event)`` with an HMAC of its own
(``sign_webhook``), and ``/v1/notifications/verify-webhook-signature`` checks exactly that.
"""

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
import zlib
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .base import FakeServer, Reply, Request

_DECIMALS = {"JPY": 0, "HUF": 0, "TWD": 0, "KWD": 3, "BHD": 3}


def _canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def _error(status: int, name: str, issue: str, description: str = "") -> Reply:
    return Reply(
        status,
        {
            "name": name,
            "message": "The requested action could not be performed.",
            "debug_id": secrets.token_hex(6),
            "details": [{"issue": issue, "description": description or issue}],
        },
    )


def _unprocessable(issue: str) -> Reply:
    return _error(422, "UNPROCESSABLE_ENTITY", issue)


def _money(value: dict[str, Any]) -> Decimal:
    return Decimal(value["value"])


class FakePayPal(FakeServer):
    def __init__(self, *, client_id: str = "fake-client", client_secret: str = "fake-secret", webhook_id: str = "WH-1"):
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.token_expires_in = 32400
        self.tokens: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.funding: dict[str, str] = {}
        self.captures: dict[str, dict[str, Any]] = {}  # capture id -> capture (with "order_id")
        self.authorizations: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.request_ids: dict[str, Reply] = {}
        self._seq = itertools.count(1)
        self._signing_key = secrets.token_bytes(16)

    # --- the book ---------------------------------------------------------------------------------
    def orders_for(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for o in self.orders.values() if o["purchase_units"][0].get("custom_id") == reference]

    def total_captured(self) -> Decimal:
        with self.lock:
            return sum((_money(c["amount"]) for c in self.captures.values() if c["status"] != "DECLINED"), Decimal(0))

    def total_refunded(self) -> Decimal:
        with self.lock:
            return sum((_money(r["amount"]) for r in self.refunds.values()), Decimal(0))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq):03d}{secrets.token_hex(6).upper()}"

    # --- the buyer --------------------------------------------------------------------------------
    def approve(self, order_id: str, *, funding: str = "ok") -> None:
        """funding: ok | instrument_declined | capture_declined | capture_pending."""
        with self.lock:
            order = self.orders[order_id]
            assert order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"), order["status"]
            order["status"] = "APPROVED"
            order["payer"] = {"payer_id": "FAKEPAYER123", "email_address": "buyer@example.com"}
            self.funding[order_id] = funding

    # --- webhooks -----------------------------------------------------------------------------------
    def sign_webhook(self, event: dict[str, Any], *, webhook_id: str | None = None) -> dict[str, str]:
        transmission_id = secrets.token_hex(8)
        transmission_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        signature = self._signature(transmission_id, transmission_time, webhook_id or self.webhook_id, event)
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": f"{self.base_url}/certs/fake.pem",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def _signature(self, transmission_id: str, transmission_time: str, webhook_id: str, event: dict) -> str:
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(_canonical(event))}"
        return base64.b64encode(hmac.new(self._signing_key, message.encode(), hashlib.sha256).digest()).decode()

    def event(self, event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._id("WH-"),
            "event_version": "1.0",
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resource_type": event_type.split(".")[1].lower(),
            "event_type": event_type,
            "resource": resource,
        }

    # --- wire -----------------------------------------------------------------------------------------
    def error_reply(self, status: int) -> Reply:
        return _error(status, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR", "An internal server error occurred.")

    def route(self, request: Request) -> Reply:
        if request.path == "/checkoutnow":
            return self._buyer_page(request)
        if request.path == "/v1/oauth2/token":
            return self._token(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            expires = self.tokens.get(token)
        if not auth.startswith("Bearer ") or expires is None or expires < time.time():
            return Reply(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})
        request_id = request.headers.get("paypal-request-id")
        if request.method == "POST" and request_id:
            with self.lock:
                if request_id in self.request_ids:
                    return self.request_ids[request_id]
                reply = self._post(request)
                if reply.status < 500:
                    self.request_ids[request_id] = reply
                return reply
        with self.lock:
            return self._post(request) if request.method == "POST" else self._get(request)

    def _buyer_page(self, request: Request) -> Reply:
        order_id = request.query.get("token", "")
        order = self.orders.get(order_id)
        if order is None:
            return Reply(404, b"no such order")
        context = order.get("_experience", {})
        if request.query.get("cancel"):
            return Reply(302, b"", {"Location": _with_query(context.get("cancel_url", "/"), token=order_id)})
        self.approve(order_id, funding=request.query.get("funding", "ok"))
        return Reply(
            302, b"", {"Location": _with_query(context.get("return_url", "/"), token=order_id, PayerID="FAKEPAYER123")}
        )

    def _token(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = dict(parse_qsl(request.body.decode()))
        if request.headers.get("authorization") != expected or form.get("grant_type") != "client_credentials":
            return Reply(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        token = "A21" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.time() + self.token_expires_in
        return Reply(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-FAKE",
                "expires_in": self.token_expires_in,
                "nonce": secrets.token_hex(8),
            },
        )

    def _get(self, request: Request) -> Reply:
        match = re.fullmatch(r"/v2/checkout/orders/([^/]+)", request.path)
        if match:
            order = self.orders.get(match.group(1))
            if order is None:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            self._refresh_order(order["id"])  # the order shows its captures as they are now
            return Reply(200, self._public(order))
        match = re.fullmatch(r"/v2/payments/refunds/([^/]+)", request.path)
        if match:
            refund = self.refunds.get(match.group(1))
            return Reply(200, refund) if refund else _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
        return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")

    def _post(self, request: Request) -> Reply:
        body = request.json() if request.body else {}
        if request.path == "/v2/checkout/orders":
            return self._create_order(body)
        if request.path == "/v1/notifications/verify-webhook-signature":
            return self._verify(body)
        match = re.fullmatch(r"/v2/checkout/orders/([^/]+)/(capture|authorize)", request.path)
        if match:
            order = self.orders.get(match.group(1))
            if order is None:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return self._complete(order, match.group(2))
        match = re.fullmatch(r"/v2/payments/authorizations/([^/]+)/(capture|void)", request.path)
        if match:
            auth = self.authorizations.get(match.group(1))
            if auth is None:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return self._capture_authorization(auth, body) if match.group(2) == "capture" else self._void(auth)
        match = re.fullmatch(r"/v2/payments/captures/([^/]+)/refund", request.path)
        if match:
            capture = self.captures.get(match.group(1))
            if capture is None:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return self._refund(capture, body)
        return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def _create_order(self, body: dict[str, Any]) -> Reply:
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "intent")
        units = body.get("purchase_units") or []
        if len(units) != 1 or "amount" not in units[0]:
            return _error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", "purchase_units[0].amount")
        amount = units[0]["amount"]
        currency, value = amount.get("currency_code", ""), str(amount.get("value", ""))
        decimals = _DECIMALS.get(currency, 2)
        if not re.fullmatch(r"\d+" + (rf"\.\d{{{decimals}}}" if decimals else ""), value):
            return _unprocessable("DECIMAL_PRECISION")
        experience = ((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context")
        order_id = self._id("5O")
        status = "PAYER_ACTION_REQUIRED" if experience else "CREATED"
        approve_rel = "payer-action" if experience else "approve"
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": status,
            "purchase_units": [{**units[0], "payments": {}}],
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "links": [
                {"href": f"{self.base_url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.base_url}/checkoutnow?token={order_id}", "rel": approve_rel, "method": "GET"},
            ],
            "_experience": experience or body.get("application_context") or {},
        }
        self.orders[order_id] = order
        return Reply(200 if experience else 201, self._public(order))

    def _complete(self, order: dict[str, Any], action: str) -> Reply:
        if order["status"] == "COMPLETED":
            return _unprocessable("ORDER_ALREADY_CAPTURED" if action == "capture" else "ORDER_ALREADY_AUTHORIZED")
        if order["status"] != "APPROVED":
            return _unprocessable("ORDER_NOT_APPROVED")
        funding = self.funding.get(order["id"], "ok")
        if funding == "instrument_declined":
            return _unprocessable("INSTRUMENT_DECLINED")
        unit = order["purchase_units"][0]
        if action == "authorize":
            auth = {
                "id": self._id("AUTH"),
                "status": "CREATED",
                "amount": dict(unit["amount"]),
                "_order_id": order["id"],
                "_captured": Decimal(0),
            }
            self.authorizations[auth["id"]] = auth
            unit["payments"]["authorizations"] = [self._public(auth)]
            order["_auth_id"] = auth["id"]
        else:
            status = {"capture_declined": "DECLINED", "capture_pending": "PENDING"}.get(funding, "COMPLETED")
            capture = self._new_capture(order["id"], dict(unit["amount"]), status)
            unit["payments"]["captures"] = [self._public(capture)]
        order["status"] = "COMPLETED"
        return Reply(201, self._public(order))

    def _new_capture(self, order_id: str, amount: dict[str, Any], status: str) -> dict[str, Any]:
        capture = {
            "id": self._id("CAP"),
            "status": status,
            "amount": amount,
            "final_capture": True,
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "_order_id": order_id,
            "_refunded": Decimal(0),
        }
        if status == "DECLINED":
            capture["status_details"] = {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
        self.captures[capture["id"]] = capture
        return capture

    def _refresh_order(self, order_id: str) -> None:
        order = self.orders[order_id]
        payments = order["purchase_units"][0]["payments"]
        captures = [c for c in self.captures.values() if c["_order_id"] == order_id]
        if captures:
            payments["captures"] = [self._public(c) for c in captures]
        auth_id = order.get("_auth_id")
        if auth_id:
            payments["authorizations"] = [self._public(self.authorizations[auth_id])]
        refunds = [r for r in self.refunds.values() if r["_order_id"] == order_id]
        if refunds:
            payments["refunds"] = [self._public(r) for r in refunds]

    def _capture_authorization(self, auth: dict[str, Any], body: dict[str, Any]) -> Reply:
        if auth["status"] == "CAPTURED":
            return _unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
        if auth["status"] != "CREATED":
            return _unprocessable("AUTHORIZATION_VOIDED" if auth["status"] == "VOIDED" else "AUTHORIZATION_EXPIRED")
        amount = body.get("amount") or auth["amount"]
        if _money(amount) > _money(auth["amount"]):
            return _unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED")
        capture = self._new_capture(auth["_order_id"], dict(amount), "COMPLETED")
        auth["status"] = "CAPTURED"
        self._refresh_order(auth["_order_id"])
        return Reply(201, self._public(capture))

    def _void(self, auth: dict[str, Any]) -> Reply:
        if auth["status"] != "CREATED":
            return _unprocessable(
                "AUTHORIZATION_ALREADY_CAPTURED" if auth["status"] == "CAPTURED" else "AUTHORIZATION_VOIDED"
            )
        auth["status"] = "VOIDED"
        self._refresh_order(auth["_order_id"])
        return Reply(204, None)

    def _refund(self, capture: dict[str, Any], body: dict[str, Any]) -> Reply:
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return _unprocessable("CAPTURE_FULLY_REFUNDED" if capture["status"] == "REFUNDED" else "REFUND_NOT_ALLOWED")
        remaining = _money(capture["amount"]) - capture["_refunded"]
        amount = body.get("amount") or {"currency_code": capture["amount"]["currency_code"], "value": str(remaining)}
        if _money(amount) > remaining:
            return _unprocessable("REFUND_AMOUNT_EXCEEDED")
        refund = {
            "id": self._id("REF"),
            "status": "COMPLETED",
            "amount": dict(amount),
            "custom_id": body.get("custom_id"),
            "_order_id": capture["_order_id"],
            "_capture_id": capture["id"],
        }
        self.refunds[refund["id"]] = refund
        capture["_refunded"] += _money(amount)
        capture["status"] = "REFUNDED" if capture["_refunded"] == _money(capture["amount"]) else "PARTIALLY_REFUNDED"
        self._refresh_order(capture["_order_id"])
        return Reply(201, self._public(refund))

    def _verify(self, body: dict[str, Any]) -> Reply:
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
        if any(not body.get(k) for k in required) or not isinstance(body.get("webhook_event"), dict):
            return _error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER")
        expected = self._signature(
            body["transmission_id"], body["transmission_time"], body["webhook_id"], body["webhook_event"]
        )
        ok = body["webhook_id"] == self.webhook_id and hmac.compare_digest(expected, body["transmission_sig"])
        return Reply(200, {"verification_status": "SUCCESS" if ok else "FAILURE"})


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
