from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import format_html
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from gateway.errors import InvalidRequest
from gateway.idempotency import MAX_KEY_LENGTH
from gateway.pagination import LIST_PARAMETERS, metadata_filter_param, paginate, unix_time_param
from gateway.permissions import IsCustomer
from gateway.views import GatewayAPIView

from .. import selectors, services
from ..errors import InvalidInput
from ..inputs import payment_method_parse
from ..models import PaymentStatus
from ..serializers import (
    CustomerPaymentListSerializer,
    PaymentCancelSerializer,
    PaymentCaptureSerializer,
    PaymentConfirmSerializer,
    PaymentCreateSerializer,
    PaymentFailureSerializer,
    PaymentListSerializer,
    PaymentMethodDeletedSerializer,
    PaymentMethodListSerializer,
    PaymentMethodSerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundListSerializer,
    RefundSerializer,
    customer_payment_data,
    payment_data,
    payment_method_data,
    refund_data,
)

PAYMENT_TAGS = ["payments"]
REFUND_TAGS = ["refunds"]
METHOD_TAGS = ["payment methods"]

_STATUS_PARAMETER = OpenApiParameter(
    "status", str, enum=PaymentStatus.values, description="Only payments in this status."
)
PAYMENT_LIST_PARAMETERS = [
    _STATUS_PARAMETER,
    OpenApiParameter("customer", str, description="Only this customer's payments."),
    OpenApiParameter("order", str, description="Only payments for this order."),
    OpenApiParameter("created[gte]", int, description="Created at or after this unix time (seconds)."),
    OpenApiParameter("created[lte]", int, description="Created at or before this unix time (seconds)."),
    OpenApiParameter(
        "metadata",
        OpenApiTypes.OBJECT,
        style="deepObject",
        explode=True,
        description="Only payments whose metadata holds every given pair: `metadata[order_ref]=A-17` "
        "(repeat with other keys to narrow; keys 1 to 40 characters, values up to 500).",
    ),
    OpenApiParameter(
        "idempotency_key",
        str,
        description="Only the payment created by the `POST /v1/payments` that carried this `Idempotency-Key` "
        f"(1 to {MAX_KEY_LENGTH} characters): find a payment whose answer was lost.",
    ),
    *LIST_PARAMETERS,
]
_CONFIRM_RESPONSES = {
    402: OpenApiResponse(PaymentFailureSerializer, description="Declined (card_error with decline_code); retryable."),
    503: OpenApiResponse(
        PaymentFailureSerializer, description="processor_unavailable: nothing was charged; retryable."
    ),
}


def _refused_before_executing(request) -> None:
    # Like DRF's own validation errors: nothing executed, so the idempotency layer keeps no key.
    request._request.gateway_validation_failed = True


def _validated(serializer_class, request):
    """Structure and types, then the card itself (validated once, here; never echoed)."""
    serializer = serializer_class(data=request.data)
    try:
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.get("payment_method") is not None:
            data["payment_method"] = payment_method_parse(data["payment_method"])
    except InvalidRequest:
        _refused_before_executing(request)
        raise
    return data


class PaymentsAPIView(GatewayAPIView):
    def handle_exception(self, exc):
        if isinstance(exc, InvalidInput):
            _refused_before_executing(self.request)
        return super().handle_exception(exc)


# The sandbox's test card that succeeds (docs/sandbox): the schema's examples create real payments.
TEST_CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}


def _status_param(params) -> str | None:
    value = params.get("status")
    if value is None:  # an empty value is not absent: it is refused below
        return None
    if value not in PaymentStatus.values:
        raise InvalidRequest(
            f"status must be one of: {', '.join(PaymentStatus.values)}.", code="parameter_invalid", param="status"
        )
    return value


def _idempotency_key_param(params) -> str | None:
    value = params.get("idempotency_key")
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"idempotency_key must be 1 to {MAX_KEY_LENGTH} characters.",
            code="parameter_invalid",
            param="idempotency_key",
        )
    return value


class PaymentsView(PaymentsAPIView):
    idempotency_answers = "payment"
    idempotency_claim_deferred = True  # payment_create claims the key with the payment

    @extend_schema(
        operation_id="payments_create",
        summary="Create a payment (and confirm it)",
        description="With `confirm: true` and a `payment_method` the payment is confirmed in the same call. With an "
        "`order`, amount and currency default to (and must equal) its outstanding total. A decline answers 402 "
        "(`card_error`, `decline_code`) and leaves the payment retryable with another method. Idempotent with "
        "`Idempotency-Key`: a retry never charges twice. A retry after the first request died (timeout, 5xx, "
        "crash) answers with the payment it created, in its current state (`Idempotent-Replayed: true`).",
        request=PaymentCreateSerializer,
        examples=[
            OpenApiExample(
                "Card, charged at once (a sandbox test card)",
                value={"amount": 2500, "currency": "usd", "payment_method": TEST_CARD, "confirm": True},
                request_only=True,
            ),
            OpenApiExample(
                "Card, authorized now and captured later",
                value={
                    "amount": 2500,
                    "currency": "eur",
                    "payment_method": TEST_CARD,
                    "confirm": True,
                    "capture_method": "manual",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Created now, confirmed later",
                value={"amount": 1000, "currency": "usd", "metadata": {"order_ref": "A-1001"}},
                request_only=True,
            ),
        ],
        responses={201: PaymentSerializer, **_CONFIRM_RESPONSES},
        tags=PAYMENT_TAGS,
    )
    def post(self, request):
        data = _validated(PaymentCreateSerializer, request)
        create = services.payment_create_off_session if data["off_session"] else services.payment_create
        payment = create(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            amount=data.get("amount"),
            currency=data.get("currency"),
            capture_method=data["capture_method"],
            order_id=data.get("order"),
            customer_id=data.get("customer"),
            payment_method=data.get("payment_method"),
            confirm=data["confirm"],
            save_payment_method=data["save_payment_method"],
            return_url=data.get("return_url", ""),
            description=data["description"],
            metadata=data["metadata"],
        )
        return Response(payment_data(payment), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="payments_list",
        summary="List payments",
        parameters=PAYMENT_LIST_PARAMETERS,
        responses=PaymentListSerializer,
        tags=PAYMENT_TAGS,
    )
    def get(self, request):
        params = request.query_params
        queryset = selectors.payment_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            status=_status_param(params),
            customer_id=params.get("customer") or None,
            order_id=params.get("order") or None,
            created_gte=unix_time_param(params, "created[gte]"),
            created_lte=unix_time_param(params, "created[lte]"),
            metadata=metadata_filter_param(params),
            idempotency_key=_idempotency_key_param(params),
        )
        return Response(
            paginate(queryset=queryset, params=params, serialize=lambda page: [payment_data(p) for p in page])
        )


class PaymentDetailView(PaymentsAPIView):
    @extend_schema(
        operation_id="payments_retrieve", summary="Retrieve a payment", responses=PaymentSerializer, tags=PAYMENT_TAGS
    )
    def get(self, request, payment_id: str):
        return Response(
            selectors.payment_data_cached(
                merchant_id=request.auth.merchant_id, payment_id=payment_id, livemode=request.auth.livemode
            )
        )


class PaymentConfirmView(PaymentsAPIView):
    idempotency_answers = "payment"
    idempotency_claim_deferred = True  # payment_confirm claims the key with the attempt

    @extend_schema(
        operation_id="payments_confirm",
        summary="Confirm a payment",
        description="From `requires_payment_method` or `requires_confirmation`; otherwise 409 "
        "`payment_unexpected_state`. Without `payment_method`, the attached one is used.",
        request=PaymentConfirmSerializer,
        examples=[OpenApiExample("With a card", value={"payment_method": TEST_CARD}, request_only=True)],
        responses={200: PaymentSerializer, **_CONFIRM_RESPONSES},
        tags=PAYMENT_TAGS,
    )
    def post(self, request, payment_id: str):
        data = _validated(PaymentConfirmSerializer, request)
        payment = services.payment_confirm(
            merchant_id=request.auth.merchant_id,
            payment_id=payment_id,
            payment_method=data.get("payment_method"),
            save_payment_method=data.get("save_payment_method"),
            return_url=data.get("return_url"),
            livemode=request.auth.livemode,
        )
        return Response(payment_data(payment))


class PaymentCaptureView(PaymentsAPIView):
    idempotency_answers = "payment"

    @extend_schema(
        operation_id="payments_capture",
        summary="Capture an authorized payment",
        description="From `requires_capture`. `amount_to_capture` (default `amount_capturable`) may be less than "
        "authorized; the rest is released.",
        request=PaymentCaptureSerializer,
        responses={200: PaymentSerializer, 503: _CONFIRM_RESPONSES[503]},
        tags=PAYMENT_TAGS,
    )
    def post(self, request, payment_id: str):
        data = _validated(PaymentCaptureSerializer, request)
        payment = services.payment_capture(
            merchant_id=request.auth.merchant_id,
            payment_id=payment_id,
            amount_to_capture=data.get("amount_to_capture"),
            livemode=request.auth.livemode,
        )
        return Response(payment_data(payment))


class PaymentCancelView(PaymentsAPIView):
    idempotency_answers = "payment"

    @extend_schema(
        operation_id="payments_cancel",
        summary="Cancel a payment",
        description="Before capture: releases an authorization or abandons a redirect. Captured payments are "
        "refunded instead (409 `payment_unexpected_state`).",
        request=PaymentCancelSerializer,
        responses={200: PaymentSerializer, 503: _CONFIRM_RESPONSES[503]},
        tags=PAYMENT_TAGS,
    )
    def post(self, request, payment_id: str):
        data = _validated(PaymentCancelSerializer, request)
        payment = services.payment_cancel(
            merchant_id=request.auth.merchant_id,
            payment_id=payment_id,
            cancellation_reason=data.get("cancellation_reason", ""),
            livemode=request.auth.livemode,
        )
        return Response(payment_data(payment))


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


class PaymentReturnView(PaymentsAPIView):
    """Where the customer's browser lands after 3-D Secure or PayPal. Not authenticated (the
    browser has no key) and trusting nothing it brings: the processor is asked what happened."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="payments_return",
        summary="Customer's return from a redirect (browser)",
        description="Asks the processor to finish the payment, then redirects to the merchant's `return_url` "
        "(with `payment` and `status` query parameters) or shows a small page. Query parameters are ignored.",
        auth=[],
        responses={
            (302, "text/html"): OpenApiResponse(description="Redirect to the merchant's return_url."),
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="A page stating the outcome."),
        },
        tags=PAYMENT_TAGS,
    )
    def get(self, request, payment_id: str):
        payment = services.payment_complete(payment_id=payment_id)
        if payment.return_url:
            return HttpResponseRedirect(
                _with_query(payment.return_url, {"payment": payment.id, "status": payment.status})
            )
        body = format_html(
            "<!doctype html><html><head><meta charset='utf-8'><title>Payment {}</title></head>"
            "<body><h1>Payment {}</h1><p>Status: <strong>{}</strong></p></body></html>",
            payment.id,
            payment.id,
            payment.status,
        )
        return HttpResponse(body, content_type="text/html; charset=utf-8")


class RefundsView(PaymentsAPIView):
    idempotency_answers = "refund"

    @extend_schema(
        operation_id="refunds_create",
        summary="Refund a payment",
        description="`amount` defaults to everything not yet refunded; several partial refunds are allowed; "
        "together they never exceed what was captured.",
        request=RefundCreateSerializer,
        responses={201: RefundSerializer, 503: OpenApiResponse(description="processor_unavailable; nothing refunded.")},
        tags=REFUND_TAGS,
    )
    def post(self, request):
        data = _validated(RefundCreateSerializer, request)
        refund = services.refund_create(
            merchant_id=request.auth.merchant_id,
            payment_id=data["payment"],
            amount=data.get("amount"),
            reason=data.get("reason", ""),
            metadata=data["metadata"],
            livemode=request.auth.livemode,
        )
        return Response(refund_data(refund), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="refunds_list",
        summary="List refunds",
        parameters=[OpenApiParameter("payment", str, description="Only this payment's refunds."), *LIST_PARAMETERS],
        responses=RefundListSerializer,
        tags=REFUND_TAGS,
    )
    def get(self, request):
        queryset = selectors.refund_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            payment_id=request.query_params.get("payment") or None,
        )
        return Response(
            paginate(
                queryset=queryset, params=request.query_params, serialize=lambda page: [refund_data(r) for r in page]
            )
        )


class RefundDetailView(PaymentsAPIView):
    @extend_schema(
        operation_id="refunds_retrieve", summary="Retrieve a refund", responses=RefundSerializer, tags=REFUND_TAGS
    )
    def get(self, request, refund_id: str):
        refund = selectors.refund_get(
            merchant_id=request.auth.merchant_id, refund_id=refund_id, livemode=request.auth.livemode
        )
        return Response(refund_data(refund))


class MyPaymentsView(PaymentsAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_payments_list",
        summary="List the signed-in customer's payments",
        parameters=[_STATUS_PARAMETER, *LIST_PARAMETERS],
        responses=CustomerPaymentListSerializer,
        tags=PAYMENT_TAGS,
    )
    def get(self, request):
        queryset = selectors.customer_payment_list(
            merchant_id=request.auth.merchant_id,
            customer_id=request.auth.customer_id,
            livemode=request.auth.livemode,
            status=_status_param(request.query_params),
        )
        return Response(
            paginate(
                queryset=queryset,
                params=request.query_params,
                serialize=lambda page: [customer_payment_data(p) for p in page],
            )
        )


class MyPaymentMethodsView(PaymentsAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_payment_methods_list",
        summary="List the signed-in customer's saved payment methods",
        parameters=LIST_PARAMETERS,
        responses=PaymentMethodListSerializer,
        tags=METHOD_TAGS,
    )
    def get(self, request):
        queryset = selectors.customer_payment_methods(
            merchant_id=request.auth.merchant_id, customer_id=request.auth.customer_id, livemode=request.auth.livemode
        )
        return Response(
            paginate(
                queryset=queryset,
                params=request.query_params,
                serialize=lambda page: [payment_method_data(m) for m in page],
            )
        )


class MyPaymentMethodDetailView(PaymentsAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_payment_methods_retrieve",
        summary="Retrieve one of the signed-in customer's saved payment methods",
        responses=PaymentMethodSerializer,
        tags=METHOD_TAGS,
    )
    def get(self, request, payment_method_id: str):
        method = selectors.customer_payment_method_get(
            merchant_id=request.auth.merchant_id,
            customer_id=request.auth.customer_id,
            payment_method_id=payment_method_id,
            livemode=request.auth.livemode,
        )
        return Response(payment_method_data(method))

    @extend_schema(
        operation_id="me_payment_methods_delete",
        summary="Remove a saved payment method",
        description="It can no longer pay; the stored card is erased from the vault.",
        responses={200: PaymentMethodDeletedSerializer},
        tags=METHOD_TAGS,
    )
    def delete(self, request, payment_method_id: str):
        method = services.payment_method_detach(
            merchant_id=request.auth.merchant_id,
            customer_id=request.auth.customer_id,
            payment_method_id=payment_method_id,
            livemode=request.auth.livemode,
        )
        return Response({"id": method.id, "object": "payment_method", "deleted": True})
