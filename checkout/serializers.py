"""Wire shapes of checkout sessions. ``session_data`` builds the representation (API responses
and event snapshots); the serializers describe the same shape for OpenAPI. Input serializers
check structure and types; ranges, URLs and the order are checked by the services."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from gateway.pagination import list_envelope_serializer
from gateway.serializers import CurrencyField, MetadataField, StrictSerializer

from .models import CheckoutSession, SessionPaymentStatus, SessionStatus

PAYMENT_METHOD_TYPES = ("card", "paypal")


def _unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


def session_page_url(session_id: str) -> str:
    return f"{settings.CHECKOUT_PUBLIC_BASE_URL.rstrip('/')}/pay/{session_id}"


def session_data(session: CheckoutSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "object": "checkout_session",
        "livemode": session.livemode,
        "url": session_page_url(session.id) if session.is_open else None,
        "status": session.status,
        "payment_status": session.payment_status,
        "payment": session.payment_id,
        "amount_total": session.amount_total,
        "currency": session.currency,
        "line_items": session.line_items,
        "order": session.order_id,
        "customer": session.customer_id,
        "payment_method_types": session.payment_method_types,
        "capture_method": session.capture_method,
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "locale": session.locale or None,
        "metadata": session.metadata,
        "expires_at": _unix(session.expires_at),
        "completed_at": _unix(session.completed_at),
        "expired_at": _unix(session.expired_at),
        "created": _unix(session.created),
    }


# --- input --------------------------------------------------------------------------------------


class LineItemInputSerializer(StrictSerializer):
    description = serializers.CharField(max_length=250)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    amount = serializers.IntegerField(
        min_value=0, required=False, help_text="Minor units for this line (quantity included); shown on the page."
    )


class CheckoutSessionCreateSerializer(StrictSerializer):
    order = serializers.CharField(
        required=False, max_length=40, help_text="An order to pay: the amount is its outstanding total."
    )
    amount = serializers.IntegerField(required=False, help_text="Minor units; without an order, with `currency`.")
    currency = CurrencyField(required=False)
    line_items = LineItemInputSerializer(many=True, required=False, help_text="What the customer pays for (1..100).")
    success_url = serializers.CharField(
        max_length=2000,
        help_text="https (http to loopback in test mode). `{CHECKOUT_SESSION_ID}` is replaced by the session id.",
    )
    cancel_url = serializers.CharField(max_length=2000, help_text="Where the page's cancel link goes; same rules.")
    customer = serializers.CharField(required=False, max_length=40)
    payment_method_types = serializers.ListField(
        child=serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES),
        required=False,
        allow_empty=False,
        max_length=2,
        help_text="Default: every type the merchant's routes can take in this currency.",
    )
    capture_method = serializers.ChoiceField(choices=["automatic", "manual"], required=False, default="automatic")
    expires_at = serializers.IntegerField(
        required=False, help_text="Unix seconds, 30 minutes to 24 hours from now (default: 24 hours)."
    )
    metadata = MetadataField(required=False, default=dict)
    locale = serializers.CharField(
        required=False, max_length=16, help_text='"auto" (the browser\'s language, default) or a locale: "de", "fr-CA".'
    )


# --- output (schema) ----------------------------------------------------------------------------


class LineItemSerializer(serializers.Serializer):
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    amount = serializers.IntegerField(allow_null=True)


class CheckoutSessionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="cs_...: unguessable; it opens the hosted page.")
    object = serializers.CharField(default="checkout_session")
    livemode = serializers.BooleanField()
    url = serializers.URLField(allow_null=True, help_text="The hosted page while the session is open.")
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    payment_status = serializers.ChoiceField(choices=SessionPaymentStatus.choices)
    payment = serializers.CharField(allow_null=True)
    amount_total = serializers.IntegerField()
    currency = serializers.CharField()
    line_items = LineItemSerializer(many=True)
    order = serializers.CharField(allow_null=True)
    customer = serializers.CharField(allow_null=True)
    payment_method_types = serializers.ListField(child=serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES))
    capture_method = serializers.CharField()
    success_url = serializers.CharField()
    cancel_url = serializers.CharField()
    locale = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    expires_at = serializers.IntegerField()
    completed_at = serializers.IntegerField(allow_null=True)
    expired_at = serializers.IntegerField(allow_null=True)
    created = serializers.IntegerField()

    def to_representation(self, instance):
        return session_data(instance)


CheckoutSessionListSerializer = list_envelope_serializer(CheckoutSessionSerializer, "CheckoutSessionList")
