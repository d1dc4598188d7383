"""``POST /v1/payment_methods``: a merchant's own payment form tokenizes the card from the
customer's browser with the publishable key, so the card number never reaches the merchant.

CORS: the preflight (which carries no key) is answered for any origin, but the request itself is
refused (403 ``origin_not_allowed``, no ``Access-Control-Allow-Origin``) unless its ``Origin`` is
one of the merchant's ``settings["allowed_origins"]``; a call with no ``Origin`` is not a browser's
cross-origin call and is allowed. Its own token bucket per key and per client IP, on top of the
API's: card testing goes through endpoints like this one.
"""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response

from gateway.errors import PERMISSION, ApiError, InvalidRequest
from gateway.forwarded import client_ip
from gateway.permissions import IsPublishableKey
from gateway.ratelimit import bucket_take
from gateway.serializers import StrictSerializer
from merchants.selectors import merchant_settings

from ..serializers import CardInputSerializer, PaymentMethodSerializer, payment_method_data
from ..services import payment_method_tokenize
from . import METHOD_TAGS, PaymentsAPIView, _refused_before_executing

_CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key"


class OriginNotAllowed(ApiError):
    status_code = 403
    error_type = PERMISSION
    code = "origin_not_allowed"
    default_message = "This origin may not call the API with this key; add it to the account's allowed origins."


class PaymentMethodCreateSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=["card"])
    card = CardInputSerializer()


class PaymentMethodsView(PaymentsAPIView):
    permission_classes = [IsPublishableKey]

    def dispatch(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            return self._preflight(request)
        return super().dispatch(request, *args, **kwargs)

    def _preflight(self, request) -> HttpResponse:
        response = HttpResponse(status=204)
        origin = request.headers.get("Origin")
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST"
            response["Access-Control-Allow-Headers"] = _CORS_HEADERS
            response["Access-Control-Max-Age"] = "600"
            response["Vary"] = "Origin"
        return response

    def _origin_allowed(self, request) -> bool:
        origin = request.headers.get("Origin")
        if not origin or request.auth is None:
            return origin is None
        allowed = merchant_settings(merchant_id=request.auth.merchant_id).get("allowed_origins") or []
        return origin in allowed

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not self._origin_allowed(request):
            raise OriginNotAllowed()
        request._request.gateway_cors_origin = request.headers.get("Origin")
        principal = request.auth
        for key in (f"pm:key:{principal.api_key_id or principal.session_id}", f"pm:ip:{client_ip(request)}"):
            result = bucket_take(
                key=key, rate=settings.PAYMENT_METHODS_RATE_PER_SECOND, burst=settings.PAYMENT_METHODS_RATE_BURST
            )
            if result is not None and not result.allowed:
                request._request.gateway_ratelimit_headers = result.headers()
                raise Throttled(wait=result.retry_after_seconds, detail="Too many card tokenizations; slow down.")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = getattr(request._request, "gateway_cors_origin", None)
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Request-Id, Idempotent-Replayed"
            response["Vary"] = "Origin"
        return response

    @extend_schema(
        operation_id="payment_methods_create",
        summary="Tokenize a card (browser, publishable key)",
        description="Card in, `pm_...` out (brand, last4, expiry; never the number). The merchant's secret key "
        "may pay with it once (`payment_method` of `POST /v1/payments`) within 30 minutes; with "
        "`save_payment_method` and a customer it becomes the customer's saved card. Cross-origin calls only "
        "from the account's allowed origins.",
        request=PaymentMethodCreateSerializer,
        responses={201: PaymentMethodSerializer},
        tags=METHOD_TAGS,
    )
    def post(self, request):
        serializer = PaymentMethodCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            method = payment_method_tokenize(
                merchant_id=request.auth.merchant_id,
                livemode=request.auth.livemode,
                card=dict(request.data.get("card") or {}),
            )
        except InvalidRequest:
            _refused_before_executing(request)
            raise
        data = payment_method_data(method)
        data["card"].pop("fingerprint", None)  # a browser has no use for it
        return Response(data, status=status.HTTP_201_CREATED)
