"""PayPal connector: Orders v2 (create, approve by the buyer, capture or authorize) and Payments v2
(capture of an authorization, void, refund), JSON over HTTP with an OAuth2 bearer token.

* Token: ``POST /v1/oauth2/token`` (Basic client_id:secret, ``grant_type=client_credentials``),
  cached in the Django cache (Redis) per account until ``PAYPAL_TOKEN_REFRESH_MARGIN`` seconds
  before it expires; a 401 on an API call drops it and retries once with a fresh one (a 401 means
  the call was refused unprocessed).
* Idempotency: ``PayPal-Request-Id: <our reference>`` on every POST.
* Amounts: exact decimal strings from minor units (``gateway.money.to_decimal_string``).
* The payment's ``processor_reference`` is always the order id; authorization, capture and
  refund ids are looked up from the order when needed (and reported in ``extra``).
* Creating an order moves no money (only the buyer's approval and our capture do), so any
  failure of the create call, even an ambiguous one, is FAILED: an orphan order the buyer never
  saw simply expires, and falling back to another processor is safe.
"""

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

from gateway.money import from_decimal_string, to_decimal_string

from .base import (
    AuthorizeRequest,
    Connector,
    Outcome,
    ProcessorResult,
    WebhookEvent,
    WebhookVerificationError,
    WebhookVerificationUnavailable,
)
from .http import NOT_FOUND, PROCESSOR_AUTH_FAILED, PROCESSOR_ERROR, RATE_LIMITED, HttpClient, Reply
from .registry import register

logger = logging.getLogger("processors.paypal")

_PAYPAL_WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


def _amount(value: dict[str, Any] | None) -> int:
    if not value:
        return 0
    return from_decimal_string(value["value"], value["currency_code"])


def _issue(body: Any) -> str | None:
    if isinstance(body, dict):
        details = body.get("details") or []
        if details and isinstance(details[0], dict) and details[0].get("issue"):
            return str(details[0]["issue"])
        return body.get("name")
    return None


def _link(resource: dict[str, Any], *rels: str) -> str | None:
    for link in resource.get("links") or []:
        if link.get("rel") in rels:
            return link.get("href")
    return None


@register
class PayPalConnector(Connector):
    name = "paypal"

    # --- plumbing --------------------------------------------------------------------------
    def _client(self) -> HttpClient:
        default_base = (
            settings.PAYPAL_API_BASE_LIVE if self.config.get("livemode") else settings.PAYPAL_API_BASE_SANDBOX
        )
        return HttpClient(
            base_url=self.config.get("base_url") or default_base,
            connect_timeout=float(self.config.get("connect_timeout") or settings.PROCESSOR_CONNECT_TIMEOUT),
            read_timeout=float(self.config.get("read_timeout") or settings.PROCESSOR_READ_TIMEOUT),
            processor=self.name,
        )

    def _token_cache_key(self) -> str:
        client_hash = hashlib.sha256(str(self.config.get("client_id", "")).encode()).hexdigest()[:16]
        return f"processors:paypal-token:{self.account_id}:{client_hash}"

    def _token(self, client: HttpClient, *, fresh: bool = False) -> str | ProcessorResult:
        key = self._token_cache_key()
        if not fresh:
            cached = cache.get(key)
            if cached:
                return cached
        reply = client.request(
            "POST",
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(self.config.get("client_id", ""), self.config.get("client_secret", "")),
            headers={"Accept": "application/json"},
        )
        if isinstance(reply, ProcessorResult):
            # No payment call was made: whatever happened to the token request, nothing moved.
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        if reply.status != 200 or not isinstance(reply.body, dict) or "access_token" not in reply.body:
            code = PROCESSOR_AUTH_FAILED if reply.status in (400, 401, 403) else PROCESSOR_ERROR
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=code, message=f"PayPal token request answered {reply.status}"
            )
        token = reply.body["access_token"]
        lifetime = int(reply.body.get("expires_in") or 0) - settings.PAYPAL_TOKEN_REFRESH_MARGIN
        if lifetime > 0:
            cache.set(key, token, timeout=lifetime)
        return token

    def _call(
        self, method: str, path: str, *, body: Any = None, request_id: str | None = None
    ) -> Reply | ProcessorResult:
        client = self._client()
        for fresh in (False, True):
            token = self._token(client, fresh=fresh)
            if isinstance(token, ProcessorResult):
                return token
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Prefer": "return=representation",
            }
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            payload = None if body is None else json.dumps(body)
            reply = client.request(method, path, data=payload, headers=headers)
            if isinstance(reply, Reply) and reply.status == 401 and not fresh:
                cache.delete(self._token_cache_key())
                continue
            return reply
        return reply

    def _read(self, path: str) -> Reply | ProcessorResult:
        """A GET: it moves no money, so a lost answer is FAILED for the operation that needed it."""
        reply = self._call("GET", path)
        if isinstance(reply, ProcessorResult) and reply.outcome is Outcome.UNKNOWN:
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        return reply

    @staticmethod
    def _error_result(reply: Reply, *, money_may_move: bool = True) -> ProcessorResult:
        """PayPal's error shape ``{name, message, debug_id, details[{field, issue, description}]}``."""
        body = reply.body if isinstance(reply.body, dict) else {}
        issue = _issue(body)
        message = body.get("message") or f"PayPal answered {reply.status}"
        extra = {"http_status": reply.status, "debug_id": body.get("debug_id"), "paypal_error": body.get("name")}
        if reply.status in (401, 403):
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=PROCESSOR_AUTH_FAILED, message=message, extra=extra
            )
        if reply.status == 404:
            return ProcessorResult(outcome=Outcome.FAILED, error_code=NOT_FOUND, message=message, extra=extra)
        if reply.status == 429:
            return ProcessorResult(outcome=Outcome.FAILED, error_code=RATE_LIMITED, message=message, extra=extra)
        if 400 <= reply.status < 500:
            decline = (issue or "declined").lower()
            return ProcessorResult(
                outcome=Outcome.DECLINED, error_code=decline, decline_code=decline, message=message, extra=extra
            )
        outcome = Outcome.UNKNOWN if money_may_move else Outcome.FAILED
        return ProcessorResult(outcome=outcome, error_code=PROCESSOR_ERROR, message=message, extra=extra)

    # --- mapping ---------------------------------------------------------------------------
    @staticmethod
    def _order_result(order: dict[str, Any]) -> ProcessorResult:
        status = order.get("status")
        units = order.get("purchase_units") or [{}]
        payments = units[0].get("payments") or {}
        captures = payments.get("captures") or []
        authorizations = payments.get("authorizations") or []
        refunds = payments.get("refunds") or []
        extra = {
            "order_status": status,
            "capture_ids": [c.get("id") for c in captures],
            "authorization_id": authorizations[-1].get("id") if authorizations else None,
        }
        common = {"processor_reference": order.get("id"), "raw_status": status}
        refunded = sum(_amount(r.get("amount")) for r in refunds if r.get("status") == "COMPLETED")
        if captures:
            # A COMPLETED order can still hold a DECLINED capture: the capture's status decides.
            completed = [c for c in captures if c.get("status") in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")]
            captured = sum(_amount(c.get("amount")) for c in completed)
            authorized = sum(_amount(a.get("amount")) for a in authorizations) or captured
            if completed:
                return ProcessorResult(
                    outcome=Outcome.SUCCEEDED,
                    amount_authorized=authorized,
                    amount_captured=captured,
                    amount_refunded=refunded,
                    extra=extra,
                    **common,
                )
            if any(c.get("status") == "PENDING" for c in captures):
                return ProcessorResult(outcome=Outcome.PENDING, extra=extra, **common)
            last = captures[-1]
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                error_code="capture_declined",
                decline_code=((last.get("status_details") or {}).get("reason") or "capture_declined").lower(),
                message=f"PayPal capture {last.get('status')}",
                extra=extra,
                **common,
            )
        if authorizations:
            auth = authorizations[-1]
            auth_status = auth.get("status")
            if auth_status in ("CREATED", "PARTIALLY_CAPTURED"):
                return ProcessorResult(
                    outcome=Outcome.SUCCEEDED, amount_authorized=_amount(auth.get("amount")), extra=extra, **common
                )
            if auth_status == "PENDING":
                return ProcessorResult(outcome=Outcome.PENDING, extra=extra, **common)
            if auth_status == "VOIDED":
                return ProcessorResult(
                    outcome=Outcome.DECLINED,
                    error_code="canceled",
                    message="authorization voided",
                    extra=extra,
                    **common,
                )
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                error_code="authorization_declined",
                decline_code=str(auth_status or "denied").lower(),
                message=f"PayPal authorization {auth_status}",
                extra=extra,
                **common,
            )
        if status in ("CREATED", "PAYER_ACTION_REQUIRED", "SAVED"):
            return ProcessorResult(
                outcome=Outcome.REQUIRES_ACTION,
                redirect_url=_link(order, "approve", "payer-action"),
                extra=extra,
                **common,
            )
        if status == "APPROVED":
            # The buyer approved; the money moves only when we capture/authorize (complete()).
            return ProcessorResult(outcome=Outcome.PENDING, extra={**extra, "approved": True}, **common)
        if status == "VOIDED":
            return ProcessorResult(
                outcome=Outcome.DECLINED, error_code="canceled", message="order voided", extra=extra, **common
            )
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="unexpected_status", extra=extra, **common)

    @staticmethod
    def _capture_result(capture: dict[str, Any], order_id: str | None) -> ProcessorResult:
        status = capture.get("status")
        common = {"processor_reference": order_id, "raw_status": status, "extra": {"capture_id": capture.get("id")}}
        if status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
            return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_captured=_amount(capture.get("amount")), **common)
        if status == "PENDING":
            return ProcessorResult(outcome=Outcome.PENDING, **common)
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            error_code="capture_declined",
            decline_code=((capture.get("status_details") or {}).get("reason") or "capture_declined").lower(),
            message=f"PayPal capture {status}",
            **common,
        )

    @staticmethod
    def _refund_result(refund: dict[str, Any]) -> ProcessorResult:
        status = refund.get("status")
        common = {"processor_reference": refund.get("id"), "raw_status": status}
        if status == "COMPLETED":
            return ProcessorResult(outcome=Outcome.SUCCEEDED, amount_refunded=_amount(refund.get("amount")), **common)
        if status == "PENDING":
            return ProcessorResult(outcome=Outcome.PENDING, **common)
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            error_code="refund_failed",
            decline_code=((refund.get("status_details") or {}).get("reason") or str(status)).lower(),
            message=f"PayPal refund {status}",
            **common,
        )

    def _order(self, order_id: str) -> dict[str, Any] | ProcessorResult:
        reply = self._read(f"/v2/checkout/orders/{order_id}")
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status != 200 or not isinstance(reply.body, dict):
            return self._error_result(reply, money_may_move=False)
        return reply.body

    # --- the interface -----------------------------------------------------------------------
    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        if request.payment_method_type != "paypal":
            return ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="payment_method_unsupported",
                message="this PayPal account is routed for PayPal payments only",
            )
        unit: dict[str, Any] = {
            "reference_id": "default",
            "custom_id": request.reference,
            "amount": {"currency_code": request.currency, "value": to_decimal_string(request.amount, request.currency)},
        }
        if request.description:
            unit["description"] = request.description[:127]
        body = {
            "intent": "CAPTURE" if request.capture else "AUTHORIZE",
            "purchase_units": [unit],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "return_url": request.return_url,
                        "cancel_url": request.return_url,
                        "user_action": "PAY_NOW",
                        "shipping_preference": "NO_SHIPPING",
                    }
                }
            },
        }
        reply = self._call("POST", "/v2/checkout/orders", body=body, request_id=request.reference)
        if isinstance(reply, ProcessorResult):
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        if reply.status not in (200, 201) or not isinstance(reply.body, dict):
            return self._error_result(reply, money_may_move=False)
        result = self._order_result(reply.body)
        if result.outcome is Outcome.REQUIRES_ACTION and not result.redirect_url:
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code="invalid_response", message="PayPal order without an approve link"
            )
        return result

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        action = "capture" if capture else "authorize"
        reply = self._call("POST", f"/v2/checkout/orders/{processor_reference}/{action}", body={}, request_id=reference)
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            return self._order_result(reply.body)
        issue = _issue(reply.body)
        if issue in ("ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"):
            order = self._order(processor_reference)
            return order if isinstance(order, ProcessorResult) else self._order_result(order)
        if issue == "PAYER_ACTION_REQUIRED":
            order = self._order(processor_reference)
            return order if isinstance(order, ProcessorResult) else self._order_result(order)
        return self._error_result(reply)

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        authorization_id = self._order_result(order).extra.get("authorization_id")
        if not authorization_id:
            return ProcessorResult(
                outcome=Outcome.DECLINED, error_code="not_authorized", message="the order holds no authorization"
            )
        reply = self._call(
            "POST",
            f"/v2/payments/authorizations/{authorization_id}/capture",
            body={
                "amount": {"currency_code": currency, "value": to_decimal_string(amount, currency)},
                "final_capture": True,
            },
            request_id=reference,
        )
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            return self._capture_result(reply.body, processor_reference)
        if _issue(reply.body) == "AUTHORIZATION_ALREADY_CAPTURED":
            again = self._order(processor_reference)
            return again if isinstance(again, ProcessorResult) else self._order_result(again)
        return self._error_result(reply)

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        state = self._order_result(order)
        authorization_id = state.extra.get("authorization_id")
        if state.extra.get("capture_ids"):
            return ProcessorResult(
                outcome=Outcome.DECLINED,
                processor_reference=processor_reference,
                error_code="already_captured",
                message="a captured PayPal payment is refunded, not voided",
            )
        if authorization_id and state.outcome is Outcome.SUCCEEDED:
            reply = self._call("POST", f"/v2/payments/authorizations/{authorization_id}/void", request_id=reference)
            if isinstance(reply, ProcessorResult):
                return reply
            if reply.status not in (200, 204) and _issue(reply.body) != "AUTHORIZATION_ALREADY_VOIDED":
                return self._error_result(reply)
            return ProcessorResult(
                outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status="VOIDED"
            )
        # Not approved/authorized yet: nothing is held at PayPal; the order expires on its own.
        return ProcessorResult(
            outcome=Outcome.SUCCEEDED, processor_reference=processor_reference, raw_status=state.raw_status
        )

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        order = self._order(processor_reference)
        if isinstance(order, ProcessorResult):
            return order
        capture_ids = [c for c in self._order_result(order).extra.get("capture_ids") or [] if c]
        if not capture_ids:
            return ProcessorResult(outcome=Outcome.DECLINED, error_code="not_captured", message="nothing was captured")
        reply = self._call(
            "POST",
            f"/v2/payments/captures/{capture_ids[-1]}/refund",
            body={
                "amount": {"currency_code": currency, "value": to_decimal_string(amount, currency)},
                "custom_id": reference,
            },
            request_id=reference,
        )
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            return self._refund_result(reply.body)
        return self._error_result(reply)

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        if not processor_reference:
            # The order id never reached us, so no buyer can have been sent to approve it.
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=NOT_FOUND, message="no PayPal order was handed to a buyer"
            )
        order = self._order(processor_reference)
        return order if isinstance(order, ProcessorResult) else self._order_result(order)

    def refund_status(
        self, *, reference: str, processor_refund_reference: str | None, processor_reference: str | None = None
    ) -> ProcessorResult:
        if not processor_refund_reference:
            return ProcessorResult(
                outcome=Outcome.UNKNOWN,
                error_code="reference_required",
                message="PayPal cannot find a refund by our reference: repeat refund() with the same reference",
            )
        reply = self._read(f"/v2/payments/refunds/{processor_refund_reference}")
        if isinstance(reply, ProcessorResult):
            return reply
        if reply.status != 200 or not isinstance(reply.body, dict):
            return self._error_result(reply, money_may_move=False)
        return self._refund_result(reply.body)

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        webhook_id = self.config.get("webhook_id")
        if not webhook_id:
            raise WebhookVerificationError("no PayPal webhook id configured for this account")
        fields = {name: lowered.get(header) for name, header in _PAYPAL_WEBHOOK_HEADERS.items()}
        if not all(fields.values()):
            raise WebhookVerificationError("missing PAYPAL-* signature headers")
        try:
            event = json.loads(body)
            event_id, event_type = event["id"], event["event_type"]
            resource = event.get("resource") or {}
        except (ValueError, KeyError, TypeError):
            raise WebhookVerificationError("body is not a PayPal event") from None
        reply = self._call(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            body={**fields, "webhook_id": webhook_id, "webhook_event": event},
        )
        if isinstance(reply, ProcessorResult) or reply.status >= 500:
            raise WebhookVerificationUnavailable("PayPal's verification API did not answer")
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise WebhookVerificationError(f"verification refused ({reply.status})")
        if reply.body.get("verification_status") != "SUCCESS":
            raise WebhookVerificationError("signature verification failed")
        return self._event(event_id, event_type, resource, event)

    def _event(self, event_id: str, event_type: str, resource: dict[str, Any], event: dict) -> WebhookEvent:
        related = ((resource.get("supplementary_data") or {}).get("related_ids")) or {}
        if event_type.startswith("CHECKOUT.ORDER."):
            return WebhookEvent(
                processor_event_id=event_id,
                type=event_type,
                processor_reference=resource.get("id"),
                result=self._order_result(resource),
                raw=event,
            )
        if event_type in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED") or event_type.startswith(
            "PAYMENT.REFUND."
        ):
            return WebhookEvent(
                processor_event_id=event_id,
                type=event_type,
                processor_reference=related.get("order_id"),
                refund_reference=resource.get("id"),
                result=self._refund_result(resource),
                raw=event,
            )
        if event_type.startswith("PAYMENT.CAPTURE."):
            return WebhookEvent(
                processor_event_id=event_id,
                type=event_type,
                processor_reference=related.get("order_id"),
                result=self._capture_result(resource, related.get("order_id")),
                raw=event,
            )
        return WebhookEvent(
            processor_event_id=event_id, type=event_type, processor_reference=related.get("order_id"), raw=event
        )


def paypal_token_forget(*, account_id: str, client_id: str) -> None:
    """Drop a cached access token (after credentials change)."""
    connector = PayPalConnector(account_id=account_id, config={"client_id": client_id})
    cache.delete(connector._token_cache_key())
