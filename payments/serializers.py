"""Wire shapes of payments, refunds and payment methods.

Output: ``payment_data`` / ``refund_data`` / ``payment_method_data`` build the representation
(API responses, the cache and event snapshots all use them); the serializers below describe the
same shape for OpenAPI and delegate to them. Nothing here can show a card number, a CVC or a
vault ciphertext: those are never read into a representation.

Input serializers check structure and types only; amounts, currencies, cards and states are
checked by the services (which admin and other apps call too).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gateway.pagination import list_envelope_serializer
from gateway.serializers import (
    CurrencyField,
    MetadataField,
    MinorUnitsField,
    StrictSerializer,
    constant_field,
    deleted_object_serializer,
)

from .inputs import CANCELLATION_REASONS
from .models import (
    CaptureMethod,
    Payment,
    PaymentMethod,
    PaymentMethodType,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)


def _unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _card(*, brand: str, last4: str, exp_month, exp_year, fingerprint: str) -> dict[str, Any]:
    return {"brand": brand, "last4": last4, "exp_month": exp_month, "exp_year": exp_year, "fingerprint": fingerprint}


def payment_data(payment: Payment) -> dict[str, Any]:
    method = None
    if payment.payment_method_type:
        method = {"id": payment.payment_method_id, "type": payment.payment_method_type}
        if payment.payment_method_type == PaymentMethodType.CARD:
            method["card"] = _card(
                brand=payment.card_brand,
                last4=payment.card_last4,
                exp_month=payment.card_exp_month,
                exp_year=payment.card_exp_year,
                fingerprint=payment.card_fingerprint,
            )
    return {
        "id": payment.id,
        "object": "payment",
        "livemode": payment.livemode,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "capture_method": payment.capture_method,
        "order": payment.order_id,
        "customer": payment.customer_id,
        "payment_method": method,
        "amount_capturable": payment.amount_capturable,
        "amount_received": payment.amount_received,
        "amount_refunded": payment.amount_refunded,
        "disputed": payment.disputed,
        "amount_disputed": payment.amount_disputed,
        "last_payment_error": payment.last_payment_error,
        "next_action": payment.next_action,
        "processor": payment.processor or None,
        "description": payment.description,
        "metadata": payment.metadata,
        "return_url": payment.return_url or None,
        "canceled_at": _unix(payment.canceled_at),
        "cancellation_reason": payment.cancellation_reason or None,
        "created": _unix(payment.created),
        "updated": _unix(payment.updated),
    }


def customer_payment_data(payment: Payment) -> dict[str, Any]:
    """What a customer sees of their own payment: the merchant's metadata and description stay private."""
    data = payment_data(payment)
    for private in ("metadata", "description", "return_url", "processor"):
        data.pop(private)
    return data


def refund_data(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "livemode": refund.livemode,
        "payment": refund.payment_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason or None,
        "failure_reason": refund.failure_reason or None,
        "metadata": refund.metadata,
        "created": _unix(refund.created),
        "updated": _unix(refund.updated),
    }


def payment_method_data(method: PaymentMethod) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": method.id,
        "object": "payment_method",
        "livemode": method.livemode,
        "type": method.type,
        "customer": method.customer_id,
        "created": _unix(method.created),
    }
    if method.type == PaymentMethodType.CARD:
        data["card"] = _card(
            brand=method.card_brand,
            last4=method.card_last4,
            exp_month=method.card_exp_month,
            exp_year=method.card_exp_year,
            fingerprint=method.card_fingerprint,
        )
    return data


# --- fields -------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanField(serializers.Field):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class CardInputSerializer(serializers.Serializer):
    """Schema only: the card is validated by ``payments.cards`` inside the service."""

    refuses_unknown_fields = True  # payments.inputs._card_parse

    number = serializers.CharField(help_text="The card number (digits; spaces and dashes allowed).")
    exp_month = serializers.IntegerField(min_value=1, max_value=12)
    exp_year = serializers.IntegerField(help_text="Four digits (two are read as 20xx).")
    cvc = serializers.CharField(help_text="3 digits (4 for Amex). Used for this one authorization, never stored.")


class CardPaymentMethodInputSerializer(serializers.Serializer):
    """Schema only (``payments.inputs.payment_method_parse`` checks it): a card, used for this payment."""

    refuses_unknown_fields = True
    type = constant_field(PaymentMethodType.CARD.value)
    card = CardInputSerializer()


class PaypalPaymentMethodInputSerializer(serializers.Serializer):
    """Schema only: PayPal; the customer approves on PayPal's page (``next_action``)."""

    refuses_unknown_fields = True
    type = constant_field(PaymentMethodType.PAYPAL.value)


class PaymentMethodInputFieldSchema(OpenApiSerializerFieldExtension):
    """``payment_method``: a saved method's id or a card / PayPal object, each a component."""

    target_class = "payments.serializers.PaymentMethodInputField"

    def map_serializer_field(self, auto_schema, direction):
        return {
            "oneOf": [
                {
                    "type": "string",
                    "pattern": "^pm_",
                    "description": "Id (pm_...) of a payment method saved for the payment's customer.",
                },
                auto_schema.resolve_serializer(CardPaymentMethodInputSerializer, direction).ref,
                auto_schema.resolve_serializer(PaypalPaymentMethodInputSerializer, direction).ref,
            ]
        }


class PaymentMethodInputField(serializers.Field):
    """A saved method's id, or ``{"type": "card", "card": {...}}`` / ``{"type": "paypal"}``.

    Only the shape is checked here; the card itself is validated (and never echoed) by the service.
    """

    default_error_messages = {"invalid": "Must be a payment method id (pm_...) or an object with a type."}

    def to_internal_value(self, data):
        if isinstance(data, str) and data:
            return data
        if isinstance(data, dict):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


# --- input --------------------------------------------------------------------------------------


class PaymentsInputSerializer(StrictSerializer):
    unknown_parameter_code = "parameter_unknown"


class PaymentCreateSerializer(PaymentsInputSerializer):
    amount = MinorUnitsField(required=False, help_text="Minor units. With an order: its outstanding total (default).")
    currency = CurrencyField(required=False, help_text="ISO 4217, any case. With an order: its currency.")
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, required=False, default="automatic")
    order = serializers.CharField(required=False, max_length=40, help_text="Id of an order of this merchant to pay.")
    customer = serializers.CharField(required=False, max_length=40, help_text="Id of a customer of this merchant.")
    payment_method = PaymentMethodInputField(required=False)
    confirm = StrictBooleanField(required=False, default=False, help_text="Confirm at once (needs payment_method).")
    save_payment_method = StrictBooleanField(
        required=False, default=False, help_text="Keep the card for the customer once the payment is authorized."
    )
    return_url = serializers.URLField(
        required=False, max_length=2000, help_text="Where the customer's browser returns after 3-D Secure or PayPal."
    )
    description = serializers.CharField(required=False, max_length=500, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)
    off_session = StrictBooleanField(
        required=False,
        default=False,
        help_text="The customer is not present (merchant-initiated, with a saved pm_): a card that asks for "
        "authentication is refused with 402 authentication_required instead of waiting for the customer.",
    )


class PaymentConfirmSerializer(PaymentsInputSerializer):
    payment_method = PaymentMethodInputField(required=False, help_text="Default: the payment's attached method.")
    save_payment_method = StrictBooleanField(required=False)
    return_url = serializers.URLField(required=False, max_length=2000)


class PaymentCaptureSerializer(PaymentsInputSerializer):
    amount_to_capture = MinorUnitsField(
        required=False, help_text="At most amount_capturable (the default); the rest is released."
    )


class PaymentCancelSerializer(PaymentsInputSerializer):
    cancellation_reason = serializers.ChoiceField(required=False, choices=CANCELLATION_REASONS)


class RefundCreateSerializer(PaymentsInputSerializer):
    payment = serializers.CharField(max_length=40, help_text="Id of a captured payment of this merchant.")
    amount = MinorUnitsField(required=False, help_text="Default: everything not yet refunded.")
    reason = serializers.ChoiceField(required=False, choices=RefundReason.choices)
    metadata = MetadataField(required=False, default=dict)


# --- output (schema) ----------------------------------------------------------------------------


class CardSerializer(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    fingerprint = serializers.CharField(help_text="Same card number, same fingerprint (keyed hash).")


class PaymentMethodSummarySerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True, help_text="pm_... when the method is kept in the vault.")
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = CardSerializer(required=False)


class PaymentErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    decline_code = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class RedirectSerializer(serializers.Serializer):
    url = serializers.URLField()
    return_url = serializers.URLField(allow_null=True)


class NextActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["redirect_to_url"])
    redirect_to_url = RedirectSerializer()


class _DelegatingSerializer(serializers.Serializer):
    represent = staticmethod(lambda instance: {})

    def to_representation(self, instance):
        return type(self).represent(instance)


class PaymentSerializer(_DelegatingSerializer):
    represent = staticmethod(payment_data)

    id = serializers.CharField()
    object = serializers.CharField(default="payment")
    livemode = serializers.BooleanField()
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices)
    order = serializers.CharField(allow_null=True)
    customer = serializers.CharField(allow_null=True)
    payment_method = PaymentMethodSummarySerializer(allow_null=True)
    amount_capturable = MinorUnitsField()
    amount_received = MinorUnitsField()
    amount_refunded = MinorUnitsField()
    disputed = serializers.BooleanField(
        help_text="A dispute (chargeback) is open or was lost: GET /v1/disputes?payment=."
    )
    amount_disputed = MinorUnitsField(help_text="Held back by the processor for disputes (withdrawn, not reinstated).")
    last_payment_error = PaymentErrorSerializer(allow_null=True)
    next_action = NextActionSerializer(allow_null=True)
    processor = serializers.CharField(allow_null=True)
    description = serializers.CharField()
    metadata = MetadataField()
    return_url = serializers.URLField(allow_null=True)
    canceled_at = serializers.IntegerField(allow_null=True)
    cancellation_reason = serializers.CharField(allow_null=True)
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class CustomerPaymentSerializer(PaymentSerializer):
    represent = staticmethod(customer_payment_data)

    metadata = None
    description = None
    return_url = None
    processor = None


class RefundSerializer(_DelegatingSerializer):
    represent = staticmethod(refund_data)

    id = serializers.CharField()
    object = serializers.CharField(default="refund")
    livemode = serializers.BooleanField()
    payment = serializers.CharField()
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    reason = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class PaymentMethodSerializer(_DelegatingSerializer):
    represent = staticmethod(payment_method_data)

    id = serializers.CharField()
    object = serializers.CharField(default="payment_method")
    livemode = serializers.BooleanField()
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    customer = serializers.CharField(allow_null=True)
    card = CardSerializer(required=False)
    created = serializers.IntegerField()


PaymentMethodDeletedSerializer = deleted_object_serializer("payment_method", "PaymentMethodDeletedSerializer")


class PaymentErrorWithPaymentSerializer(serializers.Serializer):
    """Schema of a 402/503 from a confirmation: the error shape plus the payment as it now is."""

    type = serializers.CharField()
    code = serializers.CharField()
    decline_code = serializers.CharField(allow_null=True, required=False)
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)
    payment = PaymentSerializer()


class PaymentFailureSerializer(serializers.Serializer):
    error = PaymentErrorWithPaymentSerializer()


PaymentListSerializer = list_envelope_serializer(PaymentSerializer, "PaymentList")
CustomerPaymentListSerializer = list_envelope_serializer(CustomerPaymentSerializer, "CustomerPaymentList")
RefundListSerializer = list_envelope_serializer(RefundSerializer, "RefundList")
PaymentMethodListSerializer = list_envelope_serializer(PaymentMethodSerializer, "PaymentMethodList")
