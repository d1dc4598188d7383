"""A fake PayPal REST API as strict as PayPal's: OAuth2 client credentials, Orders v2, Payments v2
(authorization capture/void, capture refund), webhook signature verification. JSON in
(``Content-Type: application/json``) and out, PayPal's error shape, PayPal's object shapes (no
field of the fake's own bookkeeping), the currency rules and enums of ``paypal_spec``.

Idempotency as PayPal documents it: a repeated ``PayPal-Request-Id`` returns the first response;
while a request with that id is still being processed another one gets 409 ``RESOURCE_CONFLICT``
/ ``PREVIOUS_REQUEST_IN_PROGRESS`` (and a void of an authorization whose void is in progress
likewise: authorizations.void documents the 409 and no request id). orders.create with a
``payment_source`` refuses a missing ``PayPal-Request-Id`` (400 ``PAYPAL_REQUEST_ID_REQUIRED``);
captures and refunds require it too here, stricter than PayPal, because without it nothing could
be replayed and the gateway always sends it.

The buyer's side (approving on PayPal) is ``approve(order_id, funding=...)`` or the approve link
itself (``GET /checkoutnow?token=...``), which redirects to the order's return URL.

Webhook signatures: PayPal signs ``transmission_id|transmission_time|webhook_id|crc32(body)``
with a certificate, over the body's bytes as sent; this fake signs the same string with an HMAC
of its own (``sign_webhook(body)``), and ``/v1/notifications/verify-webhook-signature`` checks it
against the ``webhook_event`` bytes exactly as they appear in the verification request.
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

from . import paypal_objects as objects
from . import paypal_spec as spec
from .base import FakeServer, Reply, Request


def _money(value: dict[str, Any]) -> Decimal:
    return Decimal(value["value"])


class FakePayPal(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "fake-client",
        client_secret: str = "fake-secret",
        webhook_id: str = "8PT597110X687430LKGECATA",
    ):
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.token_expires_in = 32400
        self.tokens: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.funding: dict[str, str] = {}
        self.captures: dict[str, dict[str, Any]] = {}
        self.authorizations: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        # Transaction Search's data (``transaction_details`` entries), loaded from a hand-made fixture.
        self.transactions: list[dict[str, Any]] = []
        self.request_ids: dict[str, Reply] = {}
        # The fake's own bookkeeping, never in a reply.
        self._order_of: dict[str, str] = {}  # capture / authorization / refund id -> order id
        self._refunded: dict[str, Decimal] = {}  # capture id -> refunded so far
        self._experience: dict[str, dict[str, Any]] = {}  # order id -> experience context
        self._authorization_of: dict[str, str] = {}  # order id -> authorization id
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
    def sign_webhook(self, body: bytes, *, webhook_id: str | None = None) -> dict[str, str]:
        """The ``PAYPAL-*`` headers of a notification whose body is exactly ``body``."""
        transmission_id = secrets.token_hex(8)
        transmission_time = objects.now()
        signature = self._signature(transmission_id, transmission_time, webhook_id or self.webhook_id, body)
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": f"{self.base_url}/certs/fake.pem",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def webhook(self, event: dict[str, Any], **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """A notification as PayPal sends it: the body's bytes and their signature headers."""
        body = json.dumps(event).encode()
        return body, self.sign_webhook(body, **kwargs)

    def _signature(self, transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> str:
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}"
        return base64.b64encode(hmac.new(self._signing_key, message.encode(), hashlib.sha256).digest()).decode()

    def event(self, event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
        return objects.event(self._id("WH-"), event_type, resource)

    # --- wire -----------------------------------------------------------------------------------------
    def error_reply(self, status: int) -> Reply:
        return spec.error(
            status, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR", "An internal server error occurred."
        )

    def flight_key(self, request: Request) -> str | None:
        """A request id (a void: its authorization) is held from the request's arrival until its
        answer; another request for it meanwhile gets PayPal's 409."""
        if request.method != "POST":
            return None
        if re.fullmatch(r"/v2/payments/authorizations/[^/]+/void", request.path):
            return request.path
        request_id = request.headers.get("paypal-request-id")
        return f"id:{request_id}" if request_id else None

    def in_flight_reply(self) -> Reply:
        return spec.in_progress()

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
        if request.method != "POST":
            with self.lock:
                return self._get(request)
        if request.body and not request.headers.get("content-type", "").startswith("application/json"):
            return spec.error(415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be JSON")
        request_id = request.headers.get("paypal-request-id")
        if not request_id and not re.fullmatch(
            r"/v2/payments/authorizations/[^/]+/void|/v1/notifications/.*", request.path
        ):
            return spec.invalid("PAYPAL_REQUEST_ID_REQUIRED", "PayPal-Request-Id")
        with self.lock:
            if request_id and request_id in self.request_ids:
                return self.request_ids[request_id]
            reply = self._post(request)
            if request_id and reply.status < 500 and "/void" not in request.path:
                self.request_ids[request_id] = reply
            return reply

    def _buyer_page(self, request: Request) -> Reply:
        order_id = request.query.get("token", "")
        if order_id not in self.orders:
            return Reply(404, b"no such order")
        context = self._experience.get(order_id, {})
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
        issued = objects.token(self.token_expires_in)
        with self.lock:
            self.tokens[issued["access_token"]] = time.time() + self.token_expires_in
        return Reply(200, issued)

    def _get(self, request: Request) -> Reply:
        if request.path == "/v1/reporting/transactions":
            return self._transaction_search(request.query)
        for pattern, book in (
            (r"/v2/checkout/orders/([^/]+)", self.orders),  # orders.get
            (r"/v2/payments/refunds/([^/]+)", self.refunds),  # refunds.get
            (r"/v2/payments/captures/([^/]+)", self.captures),  # captures.get
            (r"/v2/payments/authorizations/([^/]+)", self.authorizations),  # authorizations.get
            (r"/v1/customer/disputes/([^/]+)", self.disputes),  # disputes.get (Disputes API v1)
        ):
            match = re.fullmatch(pattern, request.path)
            if match:
                found = book.get(match.group(1))
                return Reply(200, found) if found else spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
        return spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")

    def _transaction_search(self, query: dict[str, str]) -> Reply:
        """search.get of reporting_transactions_v1, as strict as the spec about its parameters."""
        for name in query:
            if name not in spec.SEARCH_PARAMETERS:
                return spec.invalid("INVALID_REQUEST", name, f"Unknown parameter {name}")
        dates = {}
        for name in ("start_date", "end_date"):
            if name not in query:
                return spec.invalid("MISSING_REQUIRED_PARAMETER", name)
            if not spec.SEARCH_DATE.match(query[name]):
                return spec.invalid("INVALID_PARAMETER_SYNTAX", name)
            dates[name] = _rfc3339(query[name])
        span = dates["end_date"] - dates["start_date"]
        if span.total_seconds() <= 0 or span.days > spec.SEARCH_MAX_DAYS:
            return spec.invalid("INVALID_REQUEST", "end_date", "Date range is greater than 31 days or negative")
        fields = query.get("fields", "transaction_info").split(",")
        if any(field not in spec.SEARCH_FIELDS for field in fields):
            return spec.invalid("INVALID_PARAMETER_VALUE", "fields")
        page_size, page = query.get("page_size", "100"), query.get("page", "1")
        if not page_size.isdigit() or not 1 <= int(page_size) <= spec.SEARCH_MAX_PAGE_SIZE:
            return spec.invalid("INVALID_PARAMETER_VALUE", "page_size")
        if not page.isdigit() or int(page) < 1:
            return spec.invalid("INVALID_PARAMETER_VALUE", "page")
        found = [
            t
            for t in self.transactions
            if dates["start_date"] <= _rfc3339(t["transaction_info"]["transaction_initiation_date"]) < dates["end_date"]
        ]
        size, number = int(page_size), int(page)
        total_pages = max(1, -(-len(found) // size))
        details = found[(number - 1) * size : number * size]
        if "all" not in fields and "transaction_info" in fields:
            details = [{"transaction_info": t["transaction_info"]} for t in details]
        return Reply(
            200,
            {
                "transaction_details": details,
                "account_number": "FAKEMERCHANT",
                "start_date": query["start_date"],
                "end_date": query["end_date"],
                "last_refreshed_datetime": query["end_date"],
                "page": number,
                "total_items": len(found),
                "total_pages": total_pages,
            },
        )

    def _post(self, request: Request) -> Reply:
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return spec.invalid("MALFORMED_REQUEST_JSON", "/")
        if request.path == "/v2/checkout/orders":
            return self._create_order(body)
        if request.path == "/v1/notifications/verify-webhook-signature":
            return self._verify(request.body)
        match = re.fullmatch(r"/v2/checkout/orders/([^/]+)/(capture|authorize)", request.path)
        if match:
            order = self.orders.get(match.group(1))
            if order is None:
                return spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return self._complete(order, match.group(2))
        match = re.fullmatch(r"/v2/payments/authorizations/([^/]+)/(capture|void)", request.path)
        if match:
            auth = self.authorizations.get(match.group(1))
            if auth is None:
                return spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            if match.group(2) == "capture":
                return self._capture_authorization(auth, body)
            return self._void(auth, representation="return=representation" in request.headers.get("prefer", ""))
        match = re.fullmatch(r"/v2/payments/captures/([^/]+)/refund", request.path)
        if match:
            capture = self.captures.get(match.group(1))
            if capture is None:
                return spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return self._refund(capture, body)
        return spec.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")

    def _create_order(self, body: dict[str, Any]) -> Reply:
        problem = spec.order_request_problem(body)
        if problem:
            return problem
        experience = ((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context")
        order_id = self._id("5O")
        order = objects.order(order_id, body, base_url=self.base_url, payer_action=bool(experience))
        self.orders[order_id] = order
        self._experience[order_id] = experience or body.get("application_context") or {}
        return Reply(200 if experience else 201, order)

    def _complete(self, order: dict[str, Any], action: str) -> Reply:
        if order["status"] == "COMPLETED":
            return spec.unprocessable("ORDER_ALREADY_CAPTURED" if action == "capture" else "ORDER_ALREADY_AUTHORIZED")
        if order["status"] != "APPROVED":
            return spec.unprocessable("ORDER_NOT_APPROVED")
        if action == "authorize" and order["intent"] != "AUTHORIZE":
            return spec.unprocessable("ACTION_DOES_NOT_MATCH_INTENT")  # orders.authorize-422
        funding = self.funding.get(order["id"], "ok")
        if funding == "instrument_declined":
            return spec.unprocessable("INSTRUMENT_DECLINED")
        unit = order["purchase_units"][0]
        if action == "authorize":
            auth = self._linked("AUTH", order["id"], unit, "CREATED", dict(unit["amount"]), "authorizations")
            self.authorizations[auth["id"]] = auth
            self._authorization_of[order["id"]] = auth["id"]
        else:
            status = {"capture_declined": "DECLINED", "capture_pending": "PENDING"}.get(funding, "COMPLETED")
            self._new_capture(order["id"], unit, dict(unit["amount"]), status)
        order["status"] = "COMPLETED"
        order["payment_source"] = {"paypal": {"email_address": "buyer@example.com", "account_id": "FAKEPAYER123"}}
        self._refresh_order(order["id"])
        return Reply(201, order)

    def _linked(self, prefix: str, order_id: str, unit: dict, status: str, amount: dict, kind: str) -> dict[str, Any]:
        object_id = self._id(prefix)
        self._order_of[object_id] = order_id
        return objects.payment(
            object_id, kind, order_id=order_id, unit=unit, status=status, amount=amount, base_url=self.base_url
        )

    def _new_capture(self, order_id: str, unit: dict, amount: dict[str, Any], status: str) -> dict[str, Any]:
        capture = {**self._linked("CAP", order_id, unit, status, amount, "captures"), "final_capture": True}
        auth_id = self._authorization_of.get(order_id)
        if auth_id:
            capture["supplementary_data"]["related_ids"]["authorization_id"] = auth_id
        if status == "DECLINED":
            capture["status_details"] = {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
        if status == "PENDING":
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        self.captures[capture["id"]] = capture
        self._refunded[capture["id"]] = Decimal(0)
        return capture

    def dispute_open(self, capture_id: str, *, reason: str = "UNAUTHORISED", stage: str = "CHARGEBACK") -> dict:
        """A buyer's dispute of a capture, as disputes.get returns it (Disputes API v1 fields)."""
        with self.lock:
            capture = self.captures[capture_id]
            unit = self.orders[self._order_of[capture_id]]["purchase_units"][0]
            dispute_id = f"PP-D-{next(self._seq):05d}"
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            due = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 10 * 86400))
            self.disputes[dispute_id] = {
                "dispute_id": dispute_id,
                "create_time": now,
                "update_time": now,
                "disputed_transactions": [
                    {
                        "seller_transaction_id": capture_id,
                        "create_time": capture.get("create_time", now),
                        "transaction_status": "COMPLETED",
                        "gross_amount": dict(capture["amount"]),
                        "custom": unit.get("custom_id"),
                    }
                ],
                "reason": reason,
                "status": "WAITING_FOR_SELLER_RESPONSE",
                "dispute_amount": dict(capture["amount"]),
                "dispute_life_cycle_stage": stage,
                "dispute_channel": "EXTERNAL",
                "seller_response_due_date": due,
                "links": [],
            }
            return self.disputes[dispute_id]

    def dispute_resolve(self, dispute_id: str, *, seller_won: bool) -> dict:
        with self.lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = "RESOLVED"
            dispute["dispute_outcome"] = {
                "outcome_code": "RESOLVED_SELLER_FAVOUR" if seller_won else "RESOLVED_BUYER_FAVOUR"
            }
            return dispute

    def _refresh_order(self, order_id: str) -> None:
        """The order shows its payments as they are now (orders.get lists them)."""
        order = self.orders[order_id]
        payments = order["purchase_units"][0]["payments"]
        listed = [
            ("captures", self.captures),
            ("authorizations", self.authorizations),
            ("refunds", self.refunds),
        ]
        for name, book in listed:
            found = [obj for obj_id, obj in book.items() if self._order_of.get(obj_id) == order_id]
            if found:
                payments[name] = found

    def _capture_authorization(self, auth: dict[str, Any], body: dict[str, Any]) -> Reply:
        if auth["status"] == "CAPTURED":
            return spec.unprocessable("AUTHORIZATION_ALREADY_CAPTURED")
        if auth["status"] != "CREATED":
            return spec.unprocessable("AUTHORIZATION_VOIDED" if auth["status"] == "VOIDED" else "AUTHORIZATION_EXPIRED")
        amount = body.get("amount") or auth["amount"]
        problem = spec.money_problem(amount, "/amount")
        if problem:
            return problem
        if amount["currency_code"] != auth["amount"]["currency_code"]:
            return spec.unprocessable("AUTH_CAPTURE_CURRENCY_MISMATCH", "/amount/currency_code")
        if _money(amount) > _money(auth["amount"]):
            return spec.unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED")
        order_id = self._order_of[auth["id"]]
        capture = self._new_capture(order_id, self.orders[order_id]["purchase_units"][0], dict(amount), "COMPLETED")
        auth["status"] = "CAPTURED"
        self._refresh_order(order_id)
        return Reply(201, capture)

    def _void(self, auth: dict[str, Any], *, representation: bool) -> Reply:
        if auth["status"] != "CREATED":  # authorizations.void-422 issues
            return spec.unprocessable("PREVIOUSLY_CAPTURED" if auth["status"] == "CAPTURED" else "PREVIOUSLY_VOIDED")
        auth["status"] = "VOIDED"
        self._refresh_order(self._order_of[auth["id"]])
        return Reply(200, auth) if representation else Reply(204, None)

    def _refund(self, capture: dict[str, Any], body: dict[str, Any]) -> Reply:
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            issue = "CAPTURE_FULLY_REFUNDED" if capture["status"] == "REFUNDED" else "REFUND_NOT_ALLOWED"
            return spec.unprocessable(issue)
        remaining = _money(capture["amount"]) - self._refunded[capture["id"]]
        currency = capture["amount"]["currency_code"]
        amount = body.get("amount") or {"currency_code": currency, "value": str(remaining)}
        problem = spec.money_problem(amount, "/amount")
        if problem:
            return problem
        if amount["currency_code"] != currency:
            return spec.unprocessable("REFUND_CAPTURE_CURRENCY_MISMATCH", "/amount/currency_code")
        if "custom_id" in body and not 1 <= len(str(body["custom_id"])) <= 127:  # refund_request.custom_id
            return spec.invalid("INVALID_STRING_LENGTH", "/custom_id")
        if _money(amount) > remaining:
            return spec.unprocessable("REFUND_AMOUNT_EXCEEDED")
        order_id = self._order_of[capture["id"]]
        refund_id = self._id("REF")
        refund = objects.refund(
            refund_id, amount=amount, capture_id=capture["id"], custom_id=body.get("custom_id"), base_url=self.base_url
        )
        self.refunds[refund_id] = refund
        self._order_of[refund_id] = order_id
        self._refunded[capture["id"]] += _money(amount)
        fully = self._refunded[capture["id"]] == _money(capture["amount"])
        capture["status"] = "REFUNDED" if fully else "PARTIALLY_REFUNDED"
        self._refresh_order(order_id)
        return Reply(201, refund)

    def _verify(self, raw: bytes) -> Reply:
        fields = json.loads(raw)
        problem = spec.verification_problem(fields)
        if problem:
            return problem
        event = spec.raw_member(raw.decode(), "webhook_event")
        if event is None or not isinstance(fields.get("webhook_event"), dict):
            return spec.error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER", field="webhook_event")
        expected = self._signature(
            fields["transmission_id"], fields["transmission_time"], fields["webhook_id"], event.encode()
        )
        ok = fields["webhook_id"] == self.webhook_id and hmac.compare_digest(expected, fields["transmission_sig"])
        return Reply(200, {"verification_status": "SUCCESS" if ok else "FAILURE"})


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _rfc3339(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
