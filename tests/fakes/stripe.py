"""A fake Stripe API (PaymentIntents, Refunds, search) speaking Stripe's wire format.

Form-encoded requests, ``Authorization: Bearer <secret key>``, JSON replies, Stripe's error shape,
and Stripe's idempotency: the first response to an ``Idempotency-Key`` is stored and replayed
(``Idempotent-Replayed: true``) for the same key; other parameters under a used key -> 400
``idempotency_error``; a key whose first request is still executing -> 409.

Its own book (``intents``, ``refunds``) is what tests assert on: how many PaymentIntents exist
for one of our references, how much was captured and refunded.
"""

import itertools
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from .base import FakeServer, Reply, Request

# number -> (kind, code, decline_code)
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
TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
}
_SEARCH = re.compile(r"^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$")


def form_decode(body: bytes) -> dict[str, Any]:
    """``a[b][c]=v`` pairs -> nested dicts (lists arrive as ``a[0]``; kept as dicts with digit keys)."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return len(digits) >= 12 and checksum % 10 == 0


class FakeStripe(FakeServer):
    def __init__(self, *, secret_key: str = "sk_test_fake_123", webhook_secret: str = "whsec_fake_123"):
        super().__init__()
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        # Stripe's search index trails writes; True: it has not caught up with any of them yet.
        self.search_lagging = False
        self._in_flight: set[str] = set()
        self._card_kind: dict[str, str] = {}
        self._seq = itertools.count(1)
        self.refund_status = "succeeded"
        self._flight_lock = threading.Lock()

    # --- the book ---------------------------------------------------------------------------------
    def intents_for(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            return [pi for pi in self.intents.values() if pi["metadata"].get("gateway_reference") == reference]

    def total_received(self) -> int:
        with self.lock:
            return sum(pi["amount_received"] for pi in self.intents.values())

    def total_refunded(self) -> int:
        with self.lock:
            return sum(r["amount"] for r in self.refunds.values() if r["status"] == "succeeded")

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._seq):04d}{secrets.token_hex(6)}"

    # --- customer side of 3-D Secure ----------------------------------------------------------------
    def complete_3ds(self, intent_id: str, *, success: bool = True) -> None:
        with self.lock:
            pi = self.intents[intent_id]
            assert pi["status"] == "requires_action", pi["status"]
            pi["next_action"] = None
            if success:
                self._authorized(pi)
            else:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {
                    "type": "card_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication.",
                }

    @staticmethod
    def _authorized(pi: dict[str, Any]) -> None:
        if pi["capture_method"] == "manual":
            pi["status"] = "requires_capture"
            pi["amount_capturable"] = pi["amount"]
        else:
            pi["status"] = "succeeded"
            pi["amount_received"] = pi["amount"]

    # --- wire -----------------------------------------------------------------------------------------
    def error_reply(self, status: int) -> Reply:
        return Reply(status, {"error": {"type": "api_error", "message": "An unknown error occurred."}})

    @staticmethod
    def _error(status: int, type_: str, message: str, **extra: Any) -> Reply:
        return Reply(status, {"error": {"type": type_, "message": message, **extra}})

    def route(self, request: Request) -> Reply:
        if request.path.startswith("/3ds/"):
            return self._three_ds_page(request)
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return self._error(401, "invalid_request_error", "Invalid API Key provided.")
        if request.method == "GET":
            return self._get(request)
        params = form_decode(request.body)
        key = request.headers.get("idempotency-key")
        if not key:
            return self._post(request.path, params)
        fingerprint = (request.path, sorted(params.items(), key=str).__repr__())
        with self._flight_lock:
            stored = self.idempotency.get(key)
            if stored is None and key in self._in_flight:
                return self._error(
                    409, "idempotency_error", "There is currently another in-progress request using this key."
                )
            if stored is None:
                self._in_flight.add(key)
        if stored is not None:
            if stored["fingerprint"] != fingerprint:
                return self._error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                )
            return Reply(stored["status"], stored["body"], {"Idempotent-Replayed": "true"})
        try:
            reply = self._post(request.path, params)
            if reply.status != 429:
                with self._flight_lock:
                    self.idempotency[key] = {"fingerprint": fingerprint, "status": reply.status, "body": reply.body}
            return reply
        finally:
            with self._flight_lock:
                self._in_flight.discard(key)

    def _three_ds_page(self, request: Request) -> Reply:
        intent_id = request.path.rsplit("/", 1)[-1]
        self.complete_3ds(intent_id, success=request.query.get("result", "success") == "success")
        return_url = self.intents[intent_id].get("return_url") or "/"
        return Reply(302, b"", {"Location": return_url})

    def _get(self, request: Request) -> Reply:
        with self.lock:
            if request.path == "/v1/payment_intents/search":
                match = _SEARCH.match(request.query.get("query", ""))
                if not match:
                    return self._error(400, "invalid_request_error", "Unsupported search query.")
                field, value = match.group(1), match.group(2).replace("\\'", "'")
                found = [pi for pi in self.intents.values() if pi["metadata"].get(field) == value]
                if self.search_lagging:
                    found = []
                return Reply(200, {"object": "search_result", "data": found, "has_more": False})
            match = re.fullmatch(r"/v1/payment_intents/([^/]+)", request.path)
            if match:
                pi = self.intents.get(match.group(1))
                return Reply(200, pi) if pi else self._missing(match.group(1))
            match = re.fullmatch(r"/v1/refunds/([^/]+)", request.path)
            if match:
                refund = self.refunds.get(match.group(1))
                return Reply(200, refund) if refund else self._missing(match.group(1))
            if request.path == "/v1/refunds":
                ordered = sorted(self.refunds.values(), key=lambda r: r["created_seq"], reverse=True)
                if request.query.get("payment_intent"):
                    ordered = [r for r in ordered if r["payment_intent"] == request.query["payment_intent"]]
                after = request.query.get("starting_after")
                if after:
                    ids = [r["id"] for r in ordered]
                    ordered = ordered[ids.index(after) + 1 :] if after in ids else []
                limit = int(request.query.get("limit", 10))
                return Reply(200, {"object": "list", "data": ordered[:limit], "has_more": len(ordered) > limit})
        return self._error(404, "invalid_request_error", f"Unrecognized request URL (GET: {request.path}).")

    def _missing(self, object_id: str) -> Reply:
        return self._error(404, "invalid_request_error", f"No such object: '{object_id}'", code="resource_missing")

    def _post(self, path: str, params: dict[str, Any]) -> Reply:
        with self.lock:
            if path == "/v1/payment_intents":
                return self._create_intent(params)
            match = re.fullmatch(r"/v1/payment_intents/([^/]+)/(capture|cancel|confirm)", path)
            if match:
                pi = self.intents.get(match.group(1))
                if pi is None:
                    return self._missing(match.group(1))
                return getattr(self, f"_{match.group(2)}")(pi, params)
            if path == "/v1/refunds":
                return self._create_refund(params)
        return self._error(404, "invalid_request_error", f"Unrecognized request URL (POST: {path}).")

    def _create_intent(self, params: dict[str, Any]) -> Reply:
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return self._error(
                400, "invalid_request_error", "Invalid integer", code="parameter_invalid_integer", param="amount"
            )
        if amount < 1:
            return self._error(
                400, "invalid_request_error", "Amount must be at least 1", code="amount_too_small", param="amount"
            )
        pm_data = params.get("payment_method_data") or {}
        number = TOKENS.get(params.get("payment_method", "")) or (pm_data.get("card") or {}).get("number", "")
        if not number:
            return self._error(400, "invalid_request_error", "Missing payment method", code="parameter_missing")
        pi = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": params.get("currency", ""),
            "capture_method": params.get("capture_method", "automatic"),
            "status": "requires_confirmation",
            "metadata": params.get("metadata") or {},
            "description": params.get("description"),
            "return_url": params.get("return_url"),
            "next_action": None,
            "last_payment_error": None,
            "cancellation_reason": None,
            "created": int(time.time()),
            "payment_method": {"card": {"last4": number[-4:]}},
        }
        self.intents[pi["id"]] = pi
        if not _luhn_ok(number):
            kind = ("decline", "incorrect_number", None)
        else:
            kind = CARDS.get(number, ("success", None, None))
        self._card_kind[pi["id"]] = kind[0]
        if params.get("confirm") != "true":
            return Reply(200, pi)
        return self._confirm_with(pi, kind)

    def _confirm_with(self, pi: dict[str, Any], kind: tuple[str, str | None, str | None]) -> Reply:
        outcome, code, decline_code = kind
        if outcome == "decline":
            error = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": "Your card was declined.",
            }
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = error
            return Reply(402, {"error": {**error, "payment_intent": dict(pi)}})
        if outcome == "3ds":
            pi["status"] = "requires_action"
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": f"{self.base_url}/3ds/{pi['id']}", "return_url": pi["return_url"]},
            }
            return Reply(200, pi)
        self._authorized(pi)
        return Reply(200, pi)

    def _confirm(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] != "requires_confirmation":
            return self._unexpected(pi)
        return self._confirm_with(pi, ("success", None, None))

    def _unexpected(self, pi: dict[str, Any]) -> Reply:
        return self._error(
            400,
            "invalid_request_error",
            f"This PaymentIntent's status is {pi['status']}.",
            code="payment_intent_unexpected_state",
            payment_intent=dict(pi),
        )

    def _capture(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] != "requires_capture":
            return self._unexpected(pi)
        amount = int(params.get("amount_to_capture") or pi["amount_capturable"])
        if amount > pi["amount_capturable"]:
            return self._error(400, "invalid_request_error", "amount_to_capture too large", code="amount_too_large")
        pi["amount_received"] = amount
        pi["amount_capturable"] = 0
        pi["status"] = "succeeded"
        return Reply(200, pi)

    def _cancel(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] in ("succeeded", "canceled"):
            return self._unexpected(pi)
        pi["status"] = "canceled"
        pi["amount_capturable"] = 0
        pi["next_action"] = None
        pi["cancellation_reason"] = params.get("cancellation_reason") or "requested_by_customer"
        return Reply(200, pi)

    def _create_refund(self, params: dict[str, Any]) -> Reply:
        pi = self.intents.get(params.get("payment_intent", ""))
        if pi is None:
            return self._missing(params.get("payment_intent", ""))
        if pi["status"] != "succeeded":
            return self._unexpected(pi)
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == pi["id"] and r["status"] != "failed"
        )
        remaining = pi["amount_received"] - refunded
        amount = int(params.get("amount") or remaining)
        if remaining <= 0:
            return self._error(400, "invalid_request_error", "Charge already refunded", code="charge_already_refunded")
        if amount > remaining:
            return self._error(400, "invalid_request_error", "Refund amount too large", code="amount_too_large")
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": pi["currency"],
            "payment_intent": pi["id"],
            "status": self.refund_status,
            "metadata": params.get("metadata") or {},
            "failure_reason": None,
            "created": int(time.time()),
            "created_seq": next(self._seq),
        }
        self.refunds[refund["id"]] = refund
        return Reply(200, refund)

    # --- events -------------------------------------------------------------------------------------
    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._id("evt"),
            "object": "event",
            "type": type_,
            "created": int(time.time()),
            "data": {"object": dict(obj)},
            "livemode": False,
        }
