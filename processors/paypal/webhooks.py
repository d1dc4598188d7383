r"""PayPal's webhooks: the ``PAYPAL-*`` transmission headers are verified by PayPal's own API
(``verify-webhook-signature``, under the account's webhook id), then the event is normalised.

PayPal signs the event's bytes as it sent them (a CRC32 of the body is part of the signed
string), so the body goes to ``verify-webhook-signature`` exactly as received: the request is
built by string concatenation around it, as PayPal's own samples do, never by re-encoding
(``json.dumps(json.loads(body))`` changes ``\u00e9`` escapes, ``\/``, spacing and key order).
"""

import json
from typing import Any

from ..base import ProcessorResult, WebhookEvent, WebhookVerificationError, WebhookVerificationUnavailable
from .client import PayPalClient
from .mapping import capture_result, order_result, refund_result

_WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


def paypal_webhook_parse(
    *, client: PayPalClient, config: dict[str, Any], headers: dict[str, str], body: bytes
) -> WebhookEvent:
    """Verify (raises ``WebhookVerificationError``, or ``WebhookVerificationUnavailable`` when
    PayPal's API does not answer), then read the event."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = config.get("webhook_id")
    if not webhook_id:
        raise WebhookVerificationError("no PayPal webhook id configured for this account")
    fields = {name: lowered.get(header) for name, header in _WEBHOOK_HEADERS.items()}
    if not all(fields.values()):
        raise WebhookVerificationError("missing PAYPAL-* signature headers")
    try:
        event = json.loads(body)
        event_id, event_type = event["id"], event["event_type"]
        resource = event.get("resource") or {}
    except (ValueError, KeyError, TypeError):
        raise WebhookVerificationError("body is not a PayPal event") from None
    reply = client.call(
        "POST", "/v1/notifications/verify-webhook-signature", raw_body=verification_body(fields, webhook_id, body)
    )
    if isinstance(reply, ProcessorResult) or reply.status >= 500 or reply.status in (409, 429):
        raise WebhookVerificationUnavailable("PayPal's verification API did not answer")
    if reply.status != 200 or not isinstance(reply.body, dict):
        raise WebhookVerificationError(f"verification refused ({reply.status})")
    if reply.body.get("verification_status") != "SUCCESS":
        raise WebhookVerificationError("signature verification failed")
    return _event(event_id, event_type, resource, event)


def verification_body(fields: dict[str, Any], webhook_id: str, body: bytes) -> bytes:
    """The verify-webhook-signature request: our fields as JSON, the event as the raw bytes received."""
    head = json.dumps({**fields, "webhook_id": webhook_id})
    return head[:-1].encode() + b', "webhook_event": ' + body + b"}"


def _event(event_id: str, event_type: str, resource: dict[str, Any], event: dict) -> WebhookEvent:
    related = ((resource.get("supplementary_data") or {}).get("related_ids")) or {}
    common = {"processor_event_id": event_id, "type": event_type, "raw": event}
    if event_type.startswith("CUSTOMER.DISPUTE."):
        # CUSTOMER.DISPUTE.CREATED|UPDATED|RESOLVED: a trigger; the disputes app reads the dispute
        # (GET /v1/customer/disputes/{dispute_id}) before acting.
        return WebhookEvent(processor_reference=None, dispute_reference=_text(resource.get("dispute_id")), **common)
    if event_type.startswith("CHECKOUT.ORDER."):
        return WebhookEvent(processor_reference=resource.get("id"), result=order_result(resource), **common)
    if event_type in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED") or event_type.startswith(
        "PAYMENT.REFUND."
    ):
        # The resource is the refund: it carries our refund id as custom_id (sent with it) and no
        # supplementary_data, so a refund whose reply was lost is matched by custom_id.
        return WebhookEvent(
            processor_reference=related.get("order_id"),
            refund_reference=resource.get("id"),
            result=refund_result(resource),
            gateway_refund_reference=_text(resource.get("custom_id")),
            **common,
        )
    if event_type.startswith("PAYMENT.CAPTURE."):
        return WebhookEvent(
            processor_reference=related.get("order_id"),
            result=capture_result(resource, related.get("order_id")),
            **common,
        )
    return WebhookEvent(processor_reference=related.get("order_id"), **common)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
