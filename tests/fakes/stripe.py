"""A fake Stripe API (PaymentMethods, PaymentIntents, Refunds, search) as strict as Stripe's.

Form-encoded requests with ``Content-Type: application/x-www-form-urlencoded`` (refused without
it, as stripe-mock does), ``Authorization: Bearer <secret key>``, JSON replies in Stripe's object
shapes (``livemode``, ``payment_method`` as an id, lists with ``url``; nothing of the fake's own
bookkeeping), Stripe's error shape. Each endpoint takes exactly the parameters Stripe's published
specification lists for its operation, with their enums (``stripe_spec``); anything else is a 400
``parameter_unknown`` / "Invalid ...", as from Stripe. Amounts follow Stripe's currency rules.

Stripe's idempotency: the first response to an ``Idempotency-Key`` is stored and replayed
(``Idempotent-Replayed: true``) for the same key; other parameters, or another endpoint, under a
used key -> 400 ``idempotency_error``; a key whose first request is still executing -> 409.

Its own book (``intents``, ``refunds``, ``payment_methods``) is what tests assert on: how many
PaymentIntents exist for one of our references, how much was captured and refunded (in Stripe's
units).
"""

import itertools
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from . import stripe_objects as objects
from . import stripe_spec as spec
from .base import FakeServer, Reply, Request
from .stripe_cards import CARDS, TOKENS, luhn_ok

__all__ = ["CARDS", "TOKENS", "FakeStripe", "form_decode"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_SEARCH = re.compile(r"^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$")
_ROUTES = (  # (method, path pattern, operationId)
    ("POST", r"/v1/payment_methods", "PostPaymentMethods"),
    ("POST", r"/v1/payment_intents", "PostPaymentIntents"),
    ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/capture", "PostPaymentIntentsIntentCapture"),
    ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel", "PostPaymentIntentsIntentCancel"),
    ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/confirm", "PostPaymentIntentsIntentConfirm"),
    ("POST", r"/v1/refunds", "PostRefunds"),
    ("GET", r"/v1/payment_intents/search", "GetPaymentIntentsSearch"),
    ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "GetPaymentIntentsIntent"),
    ("GET", r"/v1/payment_methods/(?P<id>[^/]+)", "GetPaymentMethodsPaymentMethod"),
    ("GET", r"/v1/refunds", "GetRefunds"),
    ("GET", r"/v1/refunds/(?P<id>[^/]+)", "GetRefundsRefund"),
    ("GET", r"/v1/disputes/(?P<id>[^/]+)", "GetDisputesDispute"),
    ("GET", r"/v1/balance_transactions", "GetBalanceTransactions"),
    ("GET", r"/v1/payouts", "GetPayouts"),
    ("GET", r"/v1/payouts/(?P<id>[^/]+)", "GetPayoutsPayout"),
)


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


def _error(status: int, type_: str, message: str, **extra: Any) -> Reply:
    return Reply(status, {"error": {"type": type_, "message": message, **extra}})


def _invalid(problem: dict[str, Any], status: int = 400) -> Reply:
    return Reply(status, {"error": {"type": "invalid_request_error", **problem}})


class FakeStripe(FakeServer):
    def __init__(self, *, secret_key: str = "sk_test_fake_123", webhook_secret: str = "whsec_fake_123"):
        super().__init__()
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        # Stripe's search index trails writes; True: it has not caught up with any of them yet.
        self.search_lagging = False
        self.refund_status = "succeeded"
        # Settlement data (balance transactions, payouts) a test loads from a hand-made fixture, and
        # the objects ``expand[]=data.source`` puts in place of a transaction's source id. The
        # payout a transaction was paid out in is the fake's bookkeeping (Stripe's ``payout=`` filter).
        self.balance_transactions: list[dict[str, Any]] = []
        self.payouts: list[dict[str, Any]] = []
        self.sources: dict[str, dict[str, Any]] = {}
        self.transaction_payouts: dict[str, str] = {}
        # The next_action Stripe answers 3-D Secure with when a return_url was given (Stripe
        # documents redirect_to_url; without a return_url it is use_stripe_sdk).
        self.three_ds_next_action = "redirect_to_url"
        self.raw_card_data = True  # the account may send card numbers to /v1/payment_methods
        # The fake's own bookkeeping, never in a reply: the card behind a PaymentMethod, an
        # intent's return URL, the order of the refunds.
        self._card_numbers: dict[str, str] = {}
        self._return_urls: dict[str, str | None] = {}
        self._refund_order: list[str] = []
        self._seq = itertools.count(1)
        self._idempotency_lock = threading.Lock()

    @property
    def livemode(self) -> bool:
        return self.secret_key.startswith("sk_live_")

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
                objects.intent_authorized(pi)
            else:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {
                    "type": "card_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication.",
                }

    # --- wire -----------------------------------------------------------------------------------------
    def error_reply(self, status: int) -> Reply:
        return _error(status, "api_error", "An unknown error occurred.")

    def route(self, request: Request) -> Reply:
        if request.path.startswith("/3ds/"):
            return self._three_ds_page(request)
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        operation, path_id = self._operation(request)
        if operation is None:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")
        if request.method == "GET":
            problem = spec.query_problem(operation, request.query)
            return _invalid(problem) if problem else self._get(operation, path_id, request.query)
        if not request.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
            return _error(400, "invalid_request_error", "Content-Type must be application/x-www-form-urlencoded.")
        params = form_decode(request.body)
        problem = spec.params_problem(operation, params)
        if problem:
            return _invalid(problem)
        key = request.headers.get("idempotency-key")
        if not key:
            return self._post(operation, path_id, params)
        return self._idempotent(key, (request.path, repr(sorted(params.items(), key=str))), operation, path_id, params)

    @staticmethod
    def _operation(request: Request) -> tuple[str | None, str | None]:
        for method, pattern, operation in _ROUTES:
            match = re.fullmatch(pattern, request.path)
            if method == request.method and match:
                return operation, match.groupdict().get("id")
        return None, None

    def flight_key(self, request: Request) -> str | None:
        # An idempotency key is held from the request's arrival until its answer.
        return request.headers.get("idempotency-key") if request.method == "POST" else None

    def in_flight_reply(self) -> Reply:
        return _error(409, "idempotency_error", "There is currently another in-progress request using this key.")

    def _idempotent(self, key: str, fingerprint: tuple, operation: str, path_id: str | None, params: dict) -> Reply:
        with self._idempotency_lock:
            stored = self.idempotency.get(key)
        if stored is not None:
            if stored["fingerprint"] != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters and endpoint they "
                    "were first used with.",
                )
            return Reply(stored["status"], stored["body"], {"Idempotent-Replayed": "true"})
        reply = self._post(operation, path_id, params)
        if reply.status != 429:
            with self._idempotency_lock:
                self.idempotency[key] = {"fingerprint": fingerprint, "status": reply.status, "body": reply.body}
        return reply

    def _three_ds_page(self, request: Request) -> Reply:
        intent_id = request.path.rsplit("/", 1)[-1]
        self.complete_3ds(intent_id, success=request.query.get("result", "success") == "success")
        return Reply(302, b"", {"Location": self._return_urls.get(intent_id) or "/"})

    def _get(self, operation: str, path_id: str | None, query: dict[str, str]) -> Reply:
        with self.lock:
            if operation == "GetPaymentIntentsSearch":
                return self._search(query)
            if operation == "GetRefunds":
                return self._refund_list(query)
            if operation == "GetBalanceTransactions":
                return self._balance_transactions(query)
            if operation == "GetPayouts":
                return self._payout_list(query)
            book = {
                "GetPaymentIntentsIntent": (self.intents, "payment_intent"),
                "GetRefundsRefund": (self.refunds, "refund"),
                "GetPaymentMethodsPaymentMethod": (self.payment_methods, "payment_method"),
                "GetDisputesDispute": (self.disputes, "dispute"),
                "GetPayoutsPayout": ({p["id"]: p for p in self.payouts}, "payout"),
            }[operation]
            found = book[0].get(path_id or "")
            return Reply(200, found) if found else self._missing(book[1], path_id or "")

    def _search(self, query: dict[str, str]) -> Reply:
        match = _SEARCH.match(query.get("query", ""))
        if not match:
            return _error(400, "invalid_request_error", "Unsupported search query.", param="query")
        field, value = match.group(1), match.group(2).replace("\\'", "'")
        found = (
            [] if self.search_lagging else [pi for pi in self.intents.values() if pi["metadata"].get(field) == value]
        )
        return Reply(200, objects.search_result(found, url="/v1/payment_intents/search"))

    def _refund_list(self, query: dict[str, str]) -> Reply:
        ordered = [self.refunds[i] for i in reversed(self._refund_order)]  # newest first
        if query.get("payment_intent"):
            ordered = [r for r in ordered if r["payment_intent"] == query["payment_intent"]]
        after = query.get("starting_after")
        if after:
            ids = [r["id"] for r in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", 10))
        if not 1 <= limit <= 100:
            return _invalid({"message": "Invalid limit: must be between 1 and 100", "param": "limit"})
        return Reply(200, objects.list_result(ordered[:limit], has_more=len(ordered) > limit, url="/v1/refunds"))

    # --- settlement data --------------------------------------------------------------------------
    def settlement_load(self, fixture: dict[str, Any]) -> None:
        """Serve a hand-made fixture: ``balance_transactions``, ``payouts``, ``sources`` (by id) and
        ``transaction_payouts`` (transaction id -> payout id)."""
        with self.lock:
            self.balance_transactions = list(fixture.get("balance_transactions", []))
            self.payouts = list(fixture.get("payouts", []))
            self.sources = dict(fixture.get("sources", {}))
            self.transaction_payouts = dict(fixture.get("transaction_payouts", {}))

    @staticmethod
    def _created_problem(query: dict[str, str], items: list[dict[str, Any]], field: str):
        """Stripe's timestamp filter (``created`` or ``created[gte]``...): integers only."""
        for name, value in query.items():
            if name.split("[", 1)[0] != field:
                continue
            operator = name[len(field) + 1 : -1] if "[" in name else "eq"
            if operator not in (*spec.RANGE_OPERATORS, "eq"):
                return _invalid(
                    {"code": "parameter_unknown", "message": f"Received unknown parameter: {name}", "param": name}
                ), items
            if not value.lstrip("-").isdigit():
                return _invalid({"message": f"Invalid integer: {value}", "param": name}), items
            bound = int(value)
            compare = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__, "eq": int.__eq__}
            items = [item for item in items if compare[operator](int(item[field]), bound)]
        return None, items

    def _paged(self, query: dict[str, str], items: list[dict[str, Any]], url: str) -> Reply:
        limit_text = query.get("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            return _invalid({"message": "Invalid limit: must be between 1 and 100", "param": "limit"})
        after = query.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                return _invalid(
                    {"code": "resource_missing", "message": f"No such object: '{after}'", "param": "starting_after"},
                    404,
                )
            items = items[ids.index(after) + 1 :]
        limit = int(limit_text)
        return Reply(200, objects.list_result(items[:limit], has_more=len(items) > limit, url=url))

    def _balance_transactions(self, query: dict[str, str]) -> Reply:
        expand = [value for name, value in query.items() if name.split("[", 1)[0] == "expand"]
        if any(value not in ("data.source",) for value in expand):
            return _invalid({"message": f"This property cannot be expanded ({expand}).", "param": "expand"})
        items = sorted(self.balance_transactions, key=lambda t: (-int(t["created"]), t["id"]))  # newest first
        problem, items = self._created_problem(query, items, "created")
        if problem:
            return problem
        if "payout" in query:
            if not any(p["id"] == query["payout"] for p in self.payouts):
                return _invalid(
                    {"code": "resource_missing", "message": f"No such payout: '{query['payout']}'", "param": "payout"},
                    404,
                )
            items = [t for t in items if self.transaction_payouts.get(t["id"]) == query["payout"]]
        if "type" in query:
            items = [t for t in items if t["type"] == query["type"]]
        if "currency" in query:
            items = [t for t in items if t["currency"] == query["currency"].lower()]
        if expand:
            items = [{**t, "source": self.sources.get(t["source"], t["source"])} for t in items]
        return self._paged(query, items, "/v1/balance_transactions")

    def _payout_list(self, query: dict[str, str]) -> Reply:
        items = sorted(self.payouts, key=lambda p: (-int(p["created"]), p["id"]))
        problem, items = self._created_problem(query, items, "created")
        if problem:
            return problem
        if "status" in query:
            if query["status"] not in spec.PAYOUT_STATUSES:
                return _invalid({"message": f"Invalid status: {query['status']}", "param": "status"})
            items = [p for p in items if p["status"] == query["status"]]
        return self._paged(query, items, "/v1/payouts")

    @staticmethod
    def _missing(kind: str, object_id: str) -> Reply:
        name = {
            "payment_intent": "payment_intent",
            "refund": "refund",
            "payment_method": "PaymentMethod",
            "dispute": "dispute",
            "payout": "payout",
        }[kind]
        return _invalid({"code": "resource_missing", "message": f"No such {name}: '{object_id}'", "param": "id"}, 404)

    def _post(self, operation: str, path_id: str | None, params: dict[str, Any]) -> Reply:
        with self.lock:
            if operation == "PostPaymentMethods":
                return self._create_payment_method(params)
            if operation == "PostPaymentIntents":
                return self._create_intent(params)
            if operation == "PostRefunds":
                return self._create_refund(params)
            pi = self.intents.get(path_id or "")
            if pi is None:
                return self._missing("payment_intent", path_id or "")
            action = {
                "PostPaymentIntentsIntentCapture": self._capture,
                "PostPaymentIntentsIntentCancel": self._cancel,
                "PostPaymentIntentsIntentConfirm": self._confirm,
            }[operation]
            return action(pi, params)

    def _create_payment_method(self, params: dict[str, Any]) -> Reply:
        card = params.get("card") or {}
        if params.get("type") != "card" or not isinstance(card, dict):
            return _invalid({"message": "This fake only creates card PaymentMethods.", "param": "type"})
        if "token" in card:
            return _invalid({"message": "Card tokens are not supported by this fake.", "param": "card[token]"})
        for field in ("number", "exp_month", "exp_year"):  # card_details_params' required fields
            if field not in card:
                return _invalid({"code": "parameter_missing", "message": f"Missing required param: card[{field}].",
                                 "param": f"card[{field}]"})  # fmt: skip
        if not self.raw_card_data:
            return _invalid({"message": "Sending credit card numbers directly to the Stripe API is not enabled "
                             "for this account; use test tokens such as pm_card_visa."})  # fmt: skip
        if not luhn_ok(card["number"]):
            return _error(402, "card_error", "Your card number is incorrect.", code="incorrect_number", param="number")
        pm = objects.payment_method(
            self._id("pm"), card, (params.get("billing_details") or {}).get("name"), livemode=self.livemode
        )
        self.payment_methods[pm["id"]] = pm
        self._card_numbers[pm["id"]] = card["number"]
        return Reply(200, pm)

    def _card_number(self, payment_method: str) -> str | None:
        return TOKENS.get(payment_method) or self._card_numbers.get(payment_method)

    def _create_intent(self, params: dict[str, Any]) -> Reply:
        amount, currency = int(params["amount"]), params["currency"]
        problem = spec.amount_problem(amount, currency, param="amount", charge=True)
        if problem:
            return _invalid(problem)
        if "payment_method_data" in params:
            return _invalid(
                {"message": "This fake takes cards as payment_method=pm_...", "param": "payment_method_data"}
            )
        payment_method = params.get("payment_method", "")
        number = self._card_number(payment_method)
        if number is None:
            message = f"No such PaymentMethod: '{payment_method}'" if payment_method else "Missing payment_method"
            return _invalid({"code": "resource_missing" if payment_method else "parameter_missing",
                             "message": message, "param": "payment_method"})  # fmt: skip
        if "return_url" in params and params.get("confirm") != "true":
            return _invalid({"message": "return_url can only be passed when confirm=true.", "param": "return_url"})
        pi = objects.payment_intent(self._id("pi"), params, payment_method, livemode=self.livemode)
        self.intents[pi["id"]] = pi
        self._return_urls[pi["id"]] = params.get("return_url")
        if params.get("confirm") != "true":
            return Reply(200, pi)
        return self._confirm_with(pi, CARDS.get(number, ("success", None, None)))

    def _confirm_with(self, pi: dict[str, Any], kind: tuple[str, str | None, str | None]) -> Reply:
        outcome, code, decline_code = kind
        pi["latest_charge"] = self._id("ch")
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
            return_url = self._return_urls.get(pi["id"])
            if return_url and self.three_ds_next_action == "redirect_to_url":
                pi["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {"url": f"{self.base_url}/3ds/{pi['id']}", "return_url": return_url},
                }
            else:
                pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            return Reply(200, pi)
        objects.intent_authorized(pi)
        return Reply(200, pi)

    def _confirm(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] != "requires_confirmation":
            return self._unexpected(pi)
        return self._confirm_with(pi, ("success", None, None))

    @staticmethod
    def _unexpected(pi: dict[str, Any]) -> Reply:
        return _invalid({"code": "payment_intent_unexpected_state", "message": f"This PaymentIntent's status is "
                         f"{pi['status']}.", "payment_intent": dict(pi)})  # fmt: skip

    def _capture(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] != "requires_capture":
            return self._unexpected(pi)
        amount = int(params.get("amount_to_capture") or pi["amount_capturable"])
        problem = spec.amount_problem(amount, pi["currency"], param="amount_to_capture", charge=False)
        if problem:
            return _invalid(problem)
        if amount > pi["amount_capturable"]:
            return _invalid({"code": "amount_too_large", "message": "amount_to_capture too large"})
        pi.update(amount_received=amount, amount_capturable=0, status="succeeded")
        return Reply(200, pi)

    def _cancel(self, pi: dict[str, Any], params: dict[str, Any]) -> Reply:
        if pi["status"] in ("succeeded", "canceled", "processing"):
            return self._unexpected(pi)
        pi.update(status="canceled", amount_capturable=0, next_action=None, canceled_at=int(time.time()))
        pi["cancellation_reason"] = params.get("cancellation_reason")
        return Reply(200, pi)

    def _create_refund(self, params: dict[str, Any]) -> Reply:
        pi = self.intents.get(params.get("payment_intent", ""))
        if pi is None:
            return self._missing("payment_intent", params.get("payment_intent", ""))
        if pi["status"] != "succeeded":
            return self._unexpected(pi)
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == pi["id"] and r["status"] != "failed"
        )
        remaining = pi["amount_received"] - refunded
        amount = int(params.get("amount") or remaining)
        if remaining <= 0:
            return _invalid({"code": "charge_already_refunded", "message": "Charge already refunded"})
        problem = spec.amount_problem(amount, pi["currency"], param="amount", charge=False)
        if problem:
            return _invalid(problem)
        if amount > remaining:
            return _invalid({"code": "amount_too_large", "message": "Refund amount too large", "param": "amount"})
        refund = objects.refund(self._id("re"), pi, amount, params.get("metadata") or {}, status=self.refund_status)
        self.refunds[refund["id"]] = refund
        self._refund_order.append(refund["id"])
        return Reply(200, refund)

    # --- disputes (Stripe opens them; the account can only read and answer) ---------------------------
    def dispute_open(
        self, intent_id: str, *, status: str = "needs_response", reason: str = "fraudulent", fee: int = 1500
    ) -> dict[str, Any]:
        with self.lock:
            pi = self.intents[intent_id]
            dispute = objects.dispute(self._id("du"), pi, status=status, reason=reason, fee=fee, livemode=self.livemode)
            self.disputes[dispute["id"]] = dispute
            return dispute

    def dispute_close(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        with self.lock:
            dispute = self.disputes[dispute_id]
            objects.dispute_closed(dispute, won=won, reinstated_id=self._id("txn"))
            return dispute

    # --- events -------------------------------------------------------------------------------------
    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        return objects.event(self._id("evt"), type_, obj, livemode=self.livemode)
