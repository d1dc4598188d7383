import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from gateway.errors import InvalidRequest, ServiceUnavailable, not_found
from gateway.schema import ErrorSerializer
from gateway.views import GatewayAPIView

from .base import WebhookVerificationError, WebhookVerificationUnavailable
from .selectors import processor_account_get
from .serializers import WebhookReceiptSerializer
from .services import processor_webhook_receive

logger = logging.getLogger("processors.webhooks")


class ProcessorWebhookView(GatewayAPIView):
    """Called by Stripe / PayPal, not by merchants: no API key; the processor's signature is the
    authentication. Rate limited per client IP like any unauthenticated caller."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def initialize_request(self, request, *args, **kwargs):
        # Redeliveries are deduplicated by the processor's event id, not by Idempotency-Key.
        request.META.pop("HTTP_IDEMPOTENCY_KEY", None)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        operation_id="processor_webhook_receive",
        tags=["processor webhooks"],
        auth=[],
        request={"application/json": {"type": "object", "description": "The processor's event, verbatim."}},
        responses={
            200: WebhookReceiptSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Bad or missing signature: nothing stored."),
            503: OpenApiResponse(ErrorSerializer, description="Signature cannot be verified now; redeliver."),
        },
        description=(
            "Incoming notification from a processor account (Stripe: Stripe-Signature; PayPal: "
            "verify-webhook-signature). Stored once per processor event id and applied to the payment."
        ),
    )
    def post(self, request, processor_account_id: str):
        account = processor_account_get(account_id=processor_account_id)
        if account is None or account.processor == "sandbox":
            raise not_found("processor account", processor_account_id, param=None)
        headers = {key: value for key, value in request.headers.items()}
        try:
            receipt = processor_webhook_receive(account=account, headers=headers, body=request.body)
        except WebhookVerificationError as exc:
            logger.warning("processor webhook rejected", extra={"account": account.id, "reason": str(exc)})
            raise InvalidRequest(
                "Webhook signature verification failed.", code="webhook_signature_invalid", param=None
            ) from None
        except WebhookVerificationUnavailable:
            raise ServiceUnavailable(
                "Webhook signature cannot be verified right now; retry later.",
                code="webhook_verification_unavailable",
            ) from None
        return Response(
            WebhookReceiptSerializer({"received": True, "duplicate": receipt.duplicate, "event": receipt.event.id}).data
        )
