"""Wire shapes of orders. Input serializers check structure and types only; amounts, bounds and
currency are checked by the services (which admin and other apps call too)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gateway.errors import InvalidRequest
from gateway.money import MAX_AMOUNT
from gateway.pagination import list_envelope_serializer
from gateway.serializers import CurrencyField, MetadataField, MinorUnitsField, refuse_non_strings

from .models import MAX_LINE_QUANTITY, MAX_LINES, Order, OrderLine, OrderStatus

# Computed by the server: a client sending them is told so instead of being silently ignored.
_COMPUTED_ORDER_FIELDS = (
    "subtotal",
    "total",
    "amount_paid",
    "amount_refunded",
    "amount_disputed",
    "amount_outstanding",
    "status",
)
_COMPUTED_LINE_FIELDS = ("amount",)


def _unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _refuse_unexpected_keys(data: Any, allowed: set[str], computed: tuple[str, ...], prefix: str = "") -> None:
    if not isinstance(data, dict):
        return
    for key in data:
        if key in computed:
            raise InvalidRequest(
                f"{prefix}{key} is computed by the server and cannot be sent.",
                code="parameter_not_allowed",
                param=f"{prefix}{key}",
            )
        if key not in allowed:
            raise InvalidRequest(
                f"Received unknown parameter: {prefix}{key}", code="parameter_unknown", param=prefix + key
            )


@extend_schema_field(OpenApiTypes.INT)
class StrictIntegerField(MinorUnitsField):
    default_error_messages = {"invalid": "Must be an integer."}


class OrderLineInputSerializer(serializers.Serializer):
    refuses_unknown_fields = True  # OrderCreateSerializer refuses them

    sku = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=250)
    quantity = StrictIntegerField(help_text=f"1 to {MAX_LINE_QUANTITY}.")
    unit_amount = MinorUnitsField(help_text=f"Minor units, 0 to {MAX_AMOUNT}.")

    def to_internal_value(self, data):
        refuse_non_strings(self, data)
        return super().to_internal_value(data)


class OrderCreateSerializer(serializers.Serializer):
    refuses_unknown_fields = True  # _refuse_unexpected_keys

    customer = serializers.CharField(
        max_length=40, help_text="Id of a customer of this merchant, in the mode of the key (test or live)."
    )
    currency = CurrencyField()
    lines = serializers.ListField(
        child=OrderLineInputSerializer(), min_length=1, max_length=MAX_LINES, help_text=f"1 to {MAX_LINES} lines."
    )
    shipping_amount = MinorUnitsField(required=False, default=0)
    tax_amount = MinorUnitsField(required=False, default=0)
    metadata = MetadataField(required=False, default=dict)

    def to_internal_value(self, data):
        _refuse_unexpected_keys(data, set(self.fields), _COMPUTED_ORDER_FIELDS)
        lines = data.get("lines") if isinstance(data, dict) else None
        if isinstance(lines, list):
            line_fields = set(OrderLineInputSerializer().fields)
            for index, line in enumerate(lines[:MAX_LINES]):
                _refuse_unexpected_keys(line, line_fields, _COMPUTED_LINE_FIELDS, prefix=f"lines[{index}].")
        refuse_non_strings(self, data)
        return super().to_internal_value(data)


class OrderLineSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    amount = MinorUnitsField(help_text="quantity x unit_amount.")
    unit_amount = MinorUnitsField()

    class Meta:
        model = OrderLine
        fields = ["id", "object", "sku", "name", "quantity", "unit_amount", "amount"]

    def get_object(self, obj) -> str:
        return "order_line"


class StatusTransitionsSerializer(serializers.Serializer):
    paid_at = serializers.IntegerField(allow_null=True)
    fulfilled_at = serializers.IntegerField(allow_null=True)
    canceled_at = serializers.IntegerField(allow_null=True)


class OrderSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer_id")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    lines = OrderLineSerializer(many=True)
    subtotal = MinorUnitsField(help_text="Sum of the lines' amounts.")
    shipping_amount = MinorUnitsField()
    tax_amount = MinorUnitsField()
    total = MinorUnitsField(help_text="subtotal + shipping_amount + tax_amount.")
    amount_paid = MinorUnitsField()
    amount_refunded = MinorUnitsField()
    amount_disputed = MinorUnitsField(
        help_text="Held back by the processors for disputes (chargebacks) on this order's payments, open or lost."
    )
    amount_outstanding = MinorUnitsField(help_text="total - amount_paid; 0 once canceled.")
    metadata = MetadataField()
    status_transitions = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()
    updated = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "object",
            "livemode",
            "customer",
            "currency",
            "status",
            "lines",
            "subtotal",
            "shipping_amount",
            "tax_amount",
            "total",
            "amount_paid",
            "amount_refunded",
            "amount_disputed",
            "amount_outstanding",
            "metadata",
            "status_transitions",
            "created",
            "updated",
        ]

    def get_object(self, obj) -> str:
        return "order"

    @extend_schema_field(StatusTransitionsSerializer)
    def get_status_transitions(self, obj) -> dict:
        return {
            "paid_at": _unix(obj.paid_at),
            "fulfilled_at": _unix(obj.fulfilled_at),
            "canceled_at": _unix(obj.canceled_at),
        }

    def get_created(self, obj) -> int:
        return _unix(obj.created)

    def get_updated(self, obj) -> int:
        return _unix(obj.updated)


class CustomerOrderSerializer(OrderSerializer):
    """What a customer sees of their own order: the merchant's metadata stays private."""

    metadata = None

    class Meta(OrderSerializer.Meta):
        fields = [f for f in OrderSerializer.Meta.fields if f != "metadata"]


OrderListSerializer = list_envelope_serializer(OrderSerializer, "OrderList")
CustomerOrderListSerializer = list_envelope_serializer(CustomerOrderSerializer, "CustomerOrderList")


def order_data(order: Order) -> dict[str, Any]:
    return OrderSerializer(order).data


def customer_order_data(order: Order) -> dict[str, Any]:
    return CustomerOrderSerializer(order).data
