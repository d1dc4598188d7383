"""``/v1/checkout/sessions``: the merchant's server creates, reads, lists and expires sessions
(secret key; ``GatewayAPIView``: rate limit, authentication, permissions, idempotency)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from gateway.errors import ApiError, InvalidRequest
from gateway.pagination import LIST_PARAMETERS, paginate, unix_time_param
from gateway.views import GatewayAPIView

from .. import selectors, services
from ..models import SessionStatus
from ..serializers import (
    CheckoutSessionCreateSerializer,
    CheckoutSessionListSerializer,
    CheckoutSessionSerializer,
    session_data,
)

TAGS = ["checkout sessions"]
LIST_FILTERS = [
    OpenApiParameter("status", str, enum=SessionStatus.values, description="Only sessions in this status."),
    OpenApiParameter("customer", str, description="Only this customer's sessions."),
    OpenApiParameter("order", str, description="Only sessions for this order."),
    OpenApiParameter("payment", str, description="The session of this payment."),
    OpenApiParameter("created[gte]", int, description="Created at or after this unix time (seconds)."),
    OpenApiParameter("created[lte]", int, description="Created at or before this unix time (seconds)."),
    *LIST_PARAMETERS,
]


def _refused_before_executing(request) -> None:
    # Nothing was written: the idempotency layer keeps no key (as for DRF's validation errors).
    request._request.gateway_validation_failed = True


def _status_param(params) -> str | None:
    value = params.get("status")
    if value is None:  # an empty value is not absent: it is refused below
        return None
    if value not in SessionStatus.values:
        raise InvalidRequest(
            f"status must be one of: {', '.join(SessionStatus.values)}.", code="parameter_invalid", param="status"
        )
    return value


class CheckoutSessionsView(GatewayAPIView):
    @extend_schema(
        operation_id="checkout_sessions_create",
        summary="Create a checkout session",
        description="For an `order` (the amount is its outstanding total) or an `amount` + `currency` with "
        "`line_items`. Send the customer to `url`: they pay on the gateway's page, then land on `success_url`; "
        "`checkout.session.completed` tells your server. Idempotent with `Idempotency-Key`.",
        request=CheckoutSessionCreateSerializer,
        examples=[
            OpenApiExample(
                "An amount with its line items",
                value={
                    "amount": 2500,
                    "currency": "usd",
                    "line_items": [{"description": "Green tea", "quantity": 2, "amount": 2500}],
                    "success_url": "https://shop.example.com/thanks",
                    "cancel_url": "https://shop.example.com/cart",
                },
                request_only=True,
            )
        ],
        responses={201: CheckoutSessionSerializer},
        tags=TAGS,
    )
    def post(self, request):
        serializer = CheckoutSessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            params = services.checkout_session_params(
                merchant_id=request.auth.merchant_id,
                livemode=request.auth.livemode,
                success_url=data["success_url"],
                cancel_url=data["cancel_url"],
                order_id=data.get("order"),
                amount=data.get("amount"),
                currency=data.get("currency"),
                line_items=data.get("line_items"),
                customer_id=data.get("customer"),
                payment_method_types=data.get("payment_method_types"),
                capture_method=data["capture_method"],
                expires_at=data.get("expires_at"),
                metadata=data["metadata"],
                locale=data.get("locale"),
            )
        except ApiError:
            _refused_before_executing(request)
            raise
        session = services.checkout_session_create(
            merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, params=params
        )
        return Response(session_data(session), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="checkout_sessions_list",
        summary="List checkout sessions",
        parameters=LIST_FILTERS,
        responses=CheckoutSessionListSerializer,
        tags=TAGS,
    )
    def get(self, request):
        params = request.query_params
        queryset = selectors.checkout_session_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            status=_status_param(params),
            customer_id=params.get("customer") or None,
            order_id=params.get("order") or None,
            payment_id=params.get("payment") or None,
            created_gte=unix_time_param(params, "created[gte]"),
            created_lte=unix_time_param(params, "created[lte]"),
        )
        return Response(
            paginate(queryset=queryset, params=params, serialize=lambda page: [session_data(s) for s in page])
        )


class CheckoutSessionDetailView(GatewayAPIView):
    @extend_schema(
        operation_id="checkout_sessions_retrieve",
        summary="Retrieve a checkout session",
        description="Brought up to date on read: completed if its payment succeeded, expired past `expires_at`.",
        responses=CheckoutSessionSerializer,
        tags=TAGS,
    )
    def get(self, request, session_id: str):
        session = selectors.checkout_session_get(
            merchant_id=request.auth.merchant_id, session_id=session_id, livemode=request.auth.livemode
        )
        return Response(session_data(services.checkout_session_sync(session_id=session.id)))


class CheckoutSessionExpireView(GatewayAPIView):
    @extend_schema(
        operation_id="checkout_sessions_expire",
        summary="Expire a checkout session",
        description="An open session stops taking payments (its unpaid payment is canceled). 409 "
        "`checkout_session_unexpected_state` if it is not open, `checkout_session_payment_in_progress` while its "
        "payment is with the processor; a payment that succeeded meanwhile completes the session instead.",
        request=None,
        responses=CheckoutSessionSerializer,
        tags=TAGS,
    )
    def post(self, request, session_id: str):
        session = services.checkout_session_expire(
            session_id=session_id, merchant_id=request.auth.merchant_id, livemode=request.auth.livemode
        )
        return Response(session_data(session))
