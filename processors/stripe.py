"""Stripe connector: PaymentIntents and Refunds over plain HTTP, as Stripe documents them.

Wire format: form-encoded bodies (``a[b][c]=v``), ``Authorization: Bearer <secret key>``, a pinned
``Stripe-Version``, and ``Idempotency-Key: <our reference>`` on every POST, so a repeated call
(retry, status sync racing a late reply) replays Stripe's stored result instead of charging again.

Card data: by default the card is sent as ``payment_method_data[card][number|exp_month|exp_year|cvc]``
on the confirming create call. Stripe accepts raw card data only on accounts enabled for it (a
PCI-DSS level 1 gateway such as this one); an account in Stripe's test mode without that access
can set ``card_mode="test_tokens"`` to send Stripe's documented test PaymentMethods
(``pm_card_visa`` ...) for the documented test card numbers instead.

Our reference is also stored as ``metadata[gateway_reference]`` so a charge whose reply was lost
can be found again with ``GET /v1/payment_intents/search``.
"""

import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings

from .base import (
    AuthorizeRequest,
    Connector,
    Outcome,
    ProcessorResult,
    WebhookEvent,
    WebhookVerificationError,
)
from .http import (
    NOT_FOUND,
    PROCESSOR_AUTH_FAILED,
    PROCESSOR_ERROR,
    RATE_LIMITED,
    HttpClient,
    Reply,
)
from .registry import register

# Stripe's documented test PaymentMethods for its test card numbers (card_mode="test_tokens").
TEST_PAYMENT_METHODS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_visa_chargeDeclined",
    "4000000000009995": "pm_card_visa_chargeDeclinedInsufficientFunds",
    "4000000000009987": "pm_card_visa_chargeDeclinedLostCard",
    "4000000000009979": "pm_card_visa_chargeDeclinedStolenCard",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000127": "pm_card_chargeDeclinedIncorrectCvc",
    "4000000000000119": "pm_card_chargeDeclinedProcessingError",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
}
REFERENCE_METADATA_KEY = "gateway_reference"
_REFUND_LIST_MAX_PAGES = 10
_REFUND_LIST_PAGE_SIZE = 100


def form_encode(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b]``, lists as ``a[0]``, booleans as true/false."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            pairs.extend(form_encode(value, name))
        elif isinstance(value, (list, tuple)):
            pairs.extend(form_encode({str(i): item for i, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def _search_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@register
class StripeConnector(Connector):
    name = "stripe"

    # --- plumbing --------------------------------------------------------------------------
    def _client(self) -> HttpClient:
        return HttpClient(
            base_url=self.config.get("base_url") or settings.STRIPE_API_BASE,
            connect_timeout=float(self.config.get("connect_timeout") or settings.PROCESSOR_CONNECT_TIMEOUT),
            read_timeout=float(self.config.get("read_timeout") or settings.PROCESSOR_READ_TIMEOUT),
            processor=self.name,
        )

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.config.get('secret_key', '')}",
            "Stripe-Version": self.config.get("stripe_version") or settings.STRIPE_API_VERSION,
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _post(self, path: str, data: dict[str, Any], *, idempotency_key: str) -> Reply | ProcessorResult:
        return self._client().request("POST", path, data=form_encode(data), headers=self._headers(idempotency_key))

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Reply | ProcessorResult:
        return self._client().request("GET", path, params=form_encode(params or {}), headers=self._headers())

    # --- mapping ---------------------------------------------------------------------------
    @staticmethod
    def _error_result(reply: Reply) -> ProcessorResult:
        """Stripe's documented error semantics by status code."""
        error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
        message = error.get("message") or f"Stripe answered {reply.status}"
        code = error.get("code")
        intent = error.get("payment_intent") if isinstance(error.get("payment_intent"), dict) else None
        reference = intent.get("id") if intent else None
        extra = {"http_status": reply.status, "stripe_error_type": error.get("type")}
        if reply.status == 402 or error.get("type") == "card_error":
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                processor_reference=reference,
                decline_code=error.get("decline_code") or code or "generic_decline",
                error_code=code or "card_declined",
                message=message,
                raw_status=intent.get("status") if intent else None,
                extra=extra,
            )
        if error.get("type") == "idempotency_error" or reply.status == 409:
            # Same key with other parameters, or a concurrent request holding the key: the
            # original call may have been processed.
            return ProcessorResult(
                outcome=Outcome.UNKNOWN, error_code="idempotency_conflict", message=message, extra=extra
            )
        if reply.status in (401, 403):
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=PROCESSOR_AUTH_FAILED, message=message, extra=extra
            )
        if reply.status == 404:
            return ProcessorResult(outcome=Outcome.FAILED, error_code=NOT_FOUND, message=message, extra=extra)
        if reply.status == 429:
            # Stripe: rate-limited requests are not processed (and not stored under the key).
            return ProcessorResult(outcome=Outcome.FAILED, error_code=RATE_LIMITED, message=message, extra=extra)
        if 400 <= reply.status < 500:
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                processor_reference=reference,
                error_code=code or "invalid_request",
                message=message,
                extra=extra,
            )
        # 5xx: Stripe documents the result as indeterminate (and stores it under the key, so a
        # retry replays it with Idempotent-Replayed: true). Only a status query can tell.
        extra["idempotent_replayed"] = reply.headers.get("Idempotent-Replayed") == "true"
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code=PROCESSOR_ERROR, message=message, extra=extra)

    @staticmethod
    def _intent_result(intent: dict[str, Any]) -> ProcessorResult:
        status = intent.get("status")
        amount = int(intent.get("amount") or 0)
        received = int(intent.get("amount_received") or 0)
        capturable = int(intent.get("amount_capturable") or 0)
        common = {"processor_reference": intent.get("id"), "raw_status": status}
        if status == "succeeded":
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, amount_authorized=amount, amount_captured=received, **common
            )
        if status == "requires_capture":
            return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_authorized=capturable or amount, **common)
        if status == "requires_action":
            next_action = intent.get("next_action") or {}
            url = (next_action.get("redirect_to_url") or {}).get("url")
            return ProcessorResult(outcome=Outcome.REQUIRES_ACTION, redirect_url=url, **common)
        if status == "processing":
            return ProcessorResult(outcome=Outcome.PENDING, **common)
        if status == "requires_payment_method":
            error = intent.get("last_payment_error") or {}
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                decline_code=error.get("decline_code") or error.get("code") or "generic_decline",
                error_code=error.get("code") or "card_declined",
                message=error.get("message"),
                **common,
            )
        if status == "canceled":
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                error_code="canceled",
                message=f"canceled ({intent.get('cancellation_reason') or 'requested'})",
                extra={"canceled": True},
                **common,
            )
        # requires_confirmation: never confirmed, so nothing moved.
        return ProcessorResult(outcome=Outcome.FAILED, error_code="not_confirmed", **common)

    @staticmethod
    def _refund_result(refund: dict[str, Any]) -> ProcessorResult:
        status = refund.get("status")
        common = {
            "processor_reference": refund.get("id"),
            "raw_status": status,
            "extra": {"payment_intent": refund.get("payment_intent")},
        }
        if status == "succeeded":
            return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=int(refund.get("amount") or 0), **common)
        if status in ("pending", "requires_action"):
            return ProcessorResult(outcome=Outcome.PENDING, **common)
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            error_code="refund_failed",
            decline_code=refund.get("failure_reason"),
            message=f"refund {status}",
            **common,
        )

    def _intent_call(self, reply: Reply | ProcessorResult) -> ProcessorResult:
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status >= 300 or not isinstance(reply.body, dict):
            return self._error_result(reply)
        return self._intent_result(reply.body)

    # --- the interface -----------------------------------------------------------------------
    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        if request.payment_method_type != "card" or request.card is None:
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="payment_method_unsupported",
                message="this Stripe account is routed for cards only",
            )
        card = request.card
        data: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "confirm": True,
            "capture_method": "automatic" if request.capture else "manual",
            "payment_method_types": ["card"],
            "return_url": request.return_url or None,
            "description": request.description or None,
            "metadata": {**dict(list(request.metadata.items())[:40]), REFERENCE_METADATA_KEY: request.reference},
        }
        if self.config.get("card_mode") == "test_tokens":
            token = TEST_PAYMENT_METHODS.get(card.number)
            if token is None:
                return ProcessorResult(
                    outcome=Outcome.DECLINED,
                    error_code="test_card_unsupported",
                    decline_code="generic_decline",
                    message="card_mode=test_tokens accepts only Stripe's documented test card numbers",
                )
            data["payment_method"] = token
        else:
            data["payment_method_data"] = {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc or None,
                },
                "billing_details": {"name": card.holder_name or None},
            }
        return self._intent_call(self._post("/v1/payment_intents", data, idempotency_key=request.reference))

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        """After 3-D Secure: Stripe has already moved the intent on; confirm only if it waits for us."""
        result = self._intent_call(self._get(f"/v1/payment_intents/{processor_reference}"))
        if result.outcome is Outcome.UNKNOWN:
            # A read moves no money: not knowing its answer means nothing happened yet.
            return ProcessorResult(outcome=Outcome.FAILED, error_code=result.error_code, message=result.message)
        if result.raw_status == "requires_confirmation":
            return self._intent_call(
                self._post(f"/v1/payment_intents/{processor_reference}/confirm", {}, idempotency_key=reference)
            )
        return result

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._intent_call(
            self._post(
                f"/v1/payment_intents/{processor_reference}/capture",
                {"amount_to_capture": amount},
                idempotency_key=reference,
            )
        )

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        result = self._intent_call(
            self._post(f"/v1/payment_intents/{processor_reference}/cancel", {}, idempotency_key=reference)
        )
        if result.raw_status == "canceled":
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status="canceled"
            )
        return result

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        reply = self._post(
            "/v1/refunds",
            {"payment_intent": processor_reference, "amount": amount, "metadata": {REFERENCE_METADATA_KEY: reference}},
            idempotency_key=reference,
        )
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status >= 300 or not isinstance(reply.body, dict):
            return self._error_result(reply)
        return self._refund_result(reply.body)

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        """The PaymentIntent's state. Without its id, search by ``metadata[gateway_reference]``.

        Stripe's search index trails writes (documented as "under a minute", longer during
        outages), so its not-found is marked ``extra["lookup"] = "search"``: the payments app
        trusts it only from a scheduled sync, well after the call.
        """
        if processor_reference:
            return self._intent_call(self._get(f"/v1/payment_intents/{processor_reference}"))
        reply = self._get(
            "/v1/payment_intents/search",
            {"query": f"metadata[{_search_literal(REFERENCE_METADATA_KEY)}]:{_search_literal(reference)}"},
        )
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status >= 300 or not isinstance(reply.body, dict):
            return self._error_result(reply)
        found = reply.body.get("data") or []
        if not found:
            # The search index trails writes: the payments app weighs this "not found" accordingly.
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code=NOT_FOUND,
                message="Stripe's search has no PaymentIntent for this reference",
                extra={"lookup": "search"},
            )
        return self._intent_result(found[0])

    def refund_status(
        self, *, reference: str, processor_refund_reference: str | None, processor_reference: str | None = None
    ) -> ProcessorResult:
        if processor_refund_reference:
            reply = self._get(f"/v1/refunds/{processor_refund_reference}")
            if isinstance(reply, ProcessorResult):
                return reply
            if reply.status >= 300 or not isinstance(reply.body, dict):
                return self._error_result(reply)
            return self._refund_result(reply.body)
        # Refunds have no search; the list, filtered by the PaymentIntent, is strongly consistent.
        # Unfiltered (no PaymentIntent id) or cut short, a miss proves nothing: UNKNOWN, never not_found.
        if not processor_reference:
            return ProcessorResult(
                outcome=Outcome.UNKNOWN,
                error_code="refund_lookup_inconclusive",
                message="Without the PaymentIntent id Stripe's refunds cannot be searched exhaustively",
            )
        params: dict[str, Any] = {"payment_intent": processor_reference, "limit": _REFUND_LIST_PAGE_SIZE}
        for _ in range(_REFUND_LIST_MAX_PAGES):
            reply = self._get("/v1/refunds", params)
            if isinstance(reply, ProcessorResult):
                return reply
            if reply.status >= 300 or not isinstance(reply.body, dict):
                return self._error_result(reply)
            refunds = reply.body.get("data") or []
            for refund in refunds:
                if (refund.get("metadata") or {}).get(REFERENCE_METADATA_KEY) == reference:
                    return self._refund_result(refund)
            if not reply.body.get("has_more") or not refunds:
                return ProcessorResult(
                    outcome=Outcome.FAILED, error_code=NOT_FOUND, message="Stripe has no such refund"
                )
            params["starting_after"] = refunds[-1]["id"]
        return ProcessorResult(
            outcome=Outcome.UNKNOWN,
            error_code="refund_lookup_inconclusive",
            message="The PaymentIntent's refund list was not exhausted within the page limit",
        )

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        secret = self.config.get("webhook_secret")
        if not secret:
            raise WebhookVerificationError("no webhook signing secret configured for this account")
        timestamp, signatures = _signature_parts(lowered.get("stripe-signature", ""))
        if timestamp is None or not signatures:
            raise WebhookVerificationError("missing or malformed Stripe-Signature header")
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            raise WebhookVerificationError("signature mismatch")
        tolerance = int(self.config.get("webhook_tolerance") or settings.STRIPE_WEBHOOK_TOLERANCE)
        if timestamp < time.time() - tolerance:
            raise WebhookVerificationError("timestamp outside the tolerance zone")
        try:
            event = json.loads(body)
            event_id, event_type = event["id"], event["type"]
            obj = event["data"]["object"]
        except (ValueError, KeyError, TypeError):
            raise WebhookVerificationError("signed body is not a Stripe event") from None
        kind = obj.get("object") if isinstance(obj, dict) else None
        # Our own id, set on every create: it finds the attempt (or refund) whose reply was lost
        # and which therefore has no Stripe id recorded.
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        ours = metadata.get(REFERENCE_METADATA_KEY) if isinstance(metadata, dict) else None
        ours = ours if isinstance(ours, str) and ours else None
        if kind == "payment_intent":
            return WebhookEvent(
                processor_event_id=event_id,
                type=event_type,
                processor_reference=obj.get("id"),
                result=self._intent_result(obj),
                raw=event,
                gateway_reference=ours,
            )
        if kind == "refund":
            return WebhookEvent(
                processor_event_id=event_id,
                type=event_type,
                processor_reference=obj.get("payment_intent"),
                refund_reference=obj.get("id"),
                result=self._refund_result(obj),
                raw=event,
                gateway_refund_reference=ours,
            )
        reference = obj.get("payment_intent") if isinstance(obj, dict) else None
        return WebhookEvent(processor_event_id=event_id, type=event_type, processor_reference=reference, raw=event)


def _signature_parts(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def stripe_signature_header(*, payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` value for ``payload`` (used by the fake server and tests)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={signature}"
