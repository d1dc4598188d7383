from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from gateway.errors import InvalidRequest
from gateway.pagination import LIST_PARAMETERS, paginate, unix_time_param
from gateway.permissions import IsCustomer
from gateway.views import GatewayAPIView

from . import selectors, services
from .models import OrderStatus
from .serializers import (
    CustomerOrderListSerializer,
    CustomerOrderSerializer,
    OrderCreateSerializer,
    OrderListSerializer,
    OrderSerializer,
    order_data,
)

TAGS = ["orders"]

_STATUS_PARAMETER = OpenApiParameter("status", str, enum=OrderStatus.values, description="Only orders in this status.")
ORDER_LIST_PARAMETERS = [
    _STATUS_PARAMETER,
    OpenApiParameter("customer", str, description="Only this customer's orders."),
    OpenApiParameter("created[gte]", int, description="Created at or after this unix time (seconds)."),
    OpenApiParameter("created[lte]", int, description="Created at or before this unix time (seconds)."),
    *LIST_PARAMETERS,
]


def _status_param(params) -> str | None:
    value = params.get("status")
    if value is None:  # an empty value is not absent: it is refused below
        return None
    if value not in OrderStatus.values:
        raise InvalidRequest(
            f"status must be one of: {', '.join(OrderStatus.values)}.", code="parameter_invalid", param="status"
        )
    return value


class OrdersView(GatewayAPIView):
    @extend_schema(
        operation_id="orders_create",
        summary="Create an order",
        description=(
            "The order belongs to the key's mode (test or live); `customer` must be a customer of that mode, "
            "otherwise 404 (param `customer`). The server computes `subtotal` and `total` from the lines (each "
            "amount and the total at most 999999999999 minor units); sending them is refused. Idempotent with "
            "`Idempotency-Key`."
        ),
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        tags=TAGS,
    )
    def post(self, request):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = services.order_create(
            merchant_id=request.auth.merchant_id,
            customer_id=data["customer"],
            currency=data["currency"],
            lines=data["lines"],
            shipping_amount=data["shipping_amount"],
            tax_amount=data["tax_amount"],
            metadata=data["metadata"],
            livemode=request.auth.livemode,
        )
        return Response(order_data(order), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="orders_list",
        summary="List orders",
        parameters=ORDER_LIST_PARAMETERS,
        responses=OrderListSerializer,
        tags=TAGS,
    )
    def get(self, request):
        params = request.query_params
        queryset = selectors.order_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            status=_status_param(params),
            customer_id=params.get("customer") or None,
            created_gte=unix_time_param(params, "created[gte]"),
            created_lte=unix_time_param(params, "created[lte]"),
        )
        return Response(
            paginate(queryset=queryset, params=params, serialize=lambda page: OrderSerializer(page, many=True).data)
        )


class OrderDetailView(GatewayAPIView):
    @extend_schema(operation_id="orders_retrieve", summary="Retrieve an order", responses=OrderSerializer, tags=TAGS)
    def get(self, request, order_id: str):
        return Response(
            selectors.order_data_cached(
                merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, order_id=order_id
            )
        )


class OrderCancelView(GatewayAPIView):
    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an unpaid order",
        description="Only a `pending` order with nothing paid; otherwise 409 `order_unexpected_state`.",
        request=None,
        responses=OrderSerializer,
        tags=TAGS,
    )
    def post(self, request, order_id: str):
        order = services.order_cancel(
            merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, order_id=order_id
        )
        return Response(order_data(order))


class OrderFulfillView(GatewayAPIView):
    @extend_schema(
        operation_id="orders_fulfill",
        summary="Mark a paid order fulfilled",
        description="Only a `paid` order; otherwise 409 `order_unexpected_state`.",
        request=None,
        responses=OrderSerializer,
        tags=TAGS,
    )
    def post(self, request, order_id: str):
        order = services.order_fulfill(
            merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, order_id=order_id
        )
        return Response(order_data(order))


class MyOrdersView(GatewayAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_orders_list",
        summary="List the signed-in customer's orders",
        parameters=[_STATUS_PARAMETER, *LIST_PARAMETERS],
        responses=CustomerOrderListSerializer,
        tags=TAGS,
    )
    def get(self, request):
        queryset = selectors.customer_order_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            customer_id=request.auth.customer_id,
            status=_status_param(request.query_params),
        )
        return Response(
            paginate(
                queryset=queryset,
                params=request.query_params,
                serialize=lambda page: CustomerOrderSerializer(page, many=True).data,
            )
        )


class MyOrderDetailView(GatewayAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_orders_retrieve",
        summary="Retrieve one of the signed-in customer's orders",
        description="Anyone else's order is a 404.",
        responses=CustomerOrderSerializer,
        tags=TAGS,
    )
    def get(self, request, order_id: str):
        order = selectors.customer_order_get(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            customer_id=request.auth.customer_id,
            order_id=order_id,
        )
        return Response(CustomerOrderSerializer(order).data)
