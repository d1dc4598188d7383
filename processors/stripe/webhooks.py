"""Stripe's webhooks: ``Stripe-Signature`` (HMAC-SHA256 of ``"<t>.<body>"`` under the endpoint's
signing secret, with a timestamp tolerance) and the events, normalised to ``WebhookEvent``."""

import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings

from ..base import WebhookEvent, WebhookVerificationError
from .mapping import gateway_reference, intent_result, refund_result


def stripe_webhook_parse(*, config: dict[str, Any], headers: dict[str, str], body: bytes) -> WebhookEvent:
    """Verify the signature, then read the event. Raises ``WebhookVerificationError``."""
    _signature_verify(config=config, headers=headers, body=body)
    try:
        event = json.loads(body)
        event_id, event_type = event["id"], event["type"]
        obj = event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise WebhookVerificationError("signed body is not a Stripe event") from None
    kind = obj.get("object") if isinstance(obj, dict) else None
    # Our own id, set on every create: it finds the attempt (or refund) whose reply was lost
    # and which therefore has no Stripe id recorded.
    ours = gateway_reference(obj) if isinstance(obj, dict) else None
    if kind == "dispute":
        # charge.dispute.created|updated|closed|funds_withdrawn|funds_reinstated: a trigger; the
        # disputes app reads the dispute itself (GET /v1/disputes/{id}) before acting.
        return WebhookEvent(
            processor_event_id=event_id,
            type=event_type,
            processor_reference=obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None,
            dispute_reference=obj.get("id") if isinstance(obj.get("id"), str) else None,
            raw=event,
        )
    if kind == "payment_intent":
        return WebhookEvent(
            processor_event_id=event_id,
            type=event_type,
            processor_reference=obj.get("id"),
            result=intent_result(obj),
            raw=event,
            gateway_reference=ours,
        )
    if kind == "refund":
        return WebhookEvent(
            processor_event_id=event_id,
            type=event_type,
            processor_reference=obj.get("payment_intent"),
            refund_reference=obj.get("id"),
            result=refund_result(obj),
            raw=event,
            gateway_refund_reference=ours,
        )
    reference = obj.get("payment_intent") if isinstance(obj, dict) else None
    return WebhookEvent(processor_event_id=event_id, type=event_type, processor_reference=reference, raw=event)


def _signature_verify(*, config: dict[str, Any], headers: dict[str, str], body: bytes) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    secret = config.get("webhook_secret")
    if not secret:
        raise WebhookVerificationError("no webhook signing secret configured for this account")
    timestamp, signatures = _signature_parts(lowered.get("stripe-signature", ""))
    if timestamp is None or not signatures:
        raise WebhookVerificationError("missing or malformed Stripe-Signature header")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError("signature mismatch")
    tolerance = int(config.get("webhook_tolerance") or settings.STRIPE_WEBHOOK_TOLERANCE)
    if timestamp < time.time() - tolerance:
        raise WebhookVerificationError("timestamp outside the tolerance zone")


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
