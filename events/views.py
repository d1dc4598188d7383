from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from gateway.errors import InvalidRequest
from gateway.pagination import LIST_PARAMETERS, list_envelope_serializer, paginate
from gateway.views import GatewayAPIView

from . import selectors, services
from .serializers import (
    EventResendSerializer,
    EventSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointDeletedSerializer,
    WebhookEndpointRotateSecretSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    WebhookEndpointWithSecretSerializer,
)

EVENT_LIST = list_envelope_serializer(EventSerializer, "EventList")
ENDPOINT_LIST = list_envelope_serializer(WebhookEndpointSerializer, "WebhookEndpointList")
DELIVERY_LIST = list_envelope_serializer(WebhookDeliverySerializer, "WebhookDeliveryList")
ENDPOINT_ID = OpenApiParameter("endpoint_id", str, OpenApiParameter.PATH, description="we_...")
EVENT_ID = OpenApiParameter("event_id", str, OpenApiParameter.PATH, description="evt_...")
_CREATED_OPS = ("gte", "lte", "gt", "lt")
EVENT_FILTERS = [
    OpenApiParameter("type", str, description="Only events of this type, e.g. payment.succeeded."),
    OpenApiParameter("created", int, description="Only events created in this unix second."),
    *[OpenApiParameter(f"created[{op}]", int, description=f"created {op} this unix time.") for op in _CREATED_OPS],
]


def _unix_param(params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:  # an empty value is not absent: it is refused below
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = -1
    # The filters compare against value + 1 s, which must still be a valid datetime (year <= 9999).
    if not 0 <= value <= 253402300798:
        raise InvalidRequest(f"{name} must be a unix timestamp in seconds.", code="parameter_invalid", param=name)
    return value


def _created_filters(params) -> dict[str, int | None]:
    filters = {f"created_{op}": _unix_param(params, f"created[{op}]") for op in _CREATED_OPS}
    exact = _unix_param(params, "created")
    if exact is not None:
        gte, lte = filters["created_gte"], filters["created_lte"]
        filters["created_gte"] = exact if gte is None else max(gte, exact)
        filters["created_lte"] = exact if lte is None else min(lte, exact)
    return filters


def _scope(request) -> dict:
    return {"merchant_id": request.auth.merchant_id, "livemode": request.auth.livemode}


class EventListView(GatewayAPIView):
    @extend_schema(
        operation_id="events_list",
        parameters=[*LIST_PARAMETERS, *EVENT_FILTERS],
        responses=EVENT_LIST,
        tags=["events"],
    )
    def get(self, request):
        params = request.query_params
        event_type = params.get("type") or None
        if event_type is not None and len(event_type) > 64:
            raise InvalidRequest("type is at most 64 characters.", code="parameter_invalid", param="type")
        queryset = selectors.event_list(**_scope(request), type=event_type, **_created_filters(params))
        return Response(
            paginate(queryset=queryset, params=params, serialize=lambda page: EventSerializer(page, many=True).data)
        )


class EventDetailView(GatewayAPIView):
    @extend_schema(operation_id="events_retrieve", parameters=[EVENT_ID], responses=EventSerializer, tags=["events"])
    def get(self, request, event_id: str):
        return Response(EventSerializer(selectors.event_get(**_scope(request), event_id=event_id)).data)


class EventResendView(GatewayAPIView):
    @extend_schema(
        operation_id="events_resend",
        parameters=[EVENT_ID],
        request=EventResendSerializer,
        responses=DELIVERY_LIST,
        tags=["events"],
        description="Deliver the event again: to one endpoint, or to every enabled endpoint subscribed to it.",
    )
    def post(self, request, event_id: str):
        serializer = EventResendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deliveries = services.event_resend(
            **_scope(request), event_id=event_id, endpoint_id=serializer.validated_data.get("webhook_endpoint")
        )
        return Response(
            {"object": "list", "data": WebhookDeliverySerializer(deliveries, many=True).data, "has_more": False}
        )


class WebhookEndpointListView(GatewayAPIView):
    @extend_schema(
        operation_id="webhook_endpoints_list", parameters=LIST_PARAMETERS, responses=ENDPOINT_LIST, tags=["webhooks"]
    )
    def get(self, request):
        return Response(
            paginate(
                queryset=selectors.webhook_endpoint_list(**_scope(request)),
                params=request.query_params,
                serialize=lambda page: WebhookEndpointSerializer(page, many=True).data,
            )
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointCreateSerializer,
        examples=[
            OpenApiExample(
                "Payment events",
                value={"url": "https://93.184.216.34/hooks", "enabled_events": ["payment.succeeded", "refund.created"]},
                request_only=True,
            )
        ],
        responses={201: WebhookEndpointWithSecretSerializer},
        tags=["webhooks"],
        description="Register an endpoint. The response carries the signing secret; it is never shown again.",
    )
    def post(self, request):
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(**_scope(request), **serializer.validated_data)
        return Response(WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data, status=201)


class WebhookEndpointDetailView(GatewayAPIView):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        parameters=[ENDPOINT_ID],
        responses=WebhookEndpointSerializer,
        tags=["webhooks"],
    )
    def get(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(**_scope(request), endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        parameters=[ENDPOINT_ID],
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
        tags=["webhooks"],
    )
    def patch(self, request, endpoint_id: str):
        serializer = WebhookEndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            **_scope(request), endpoint_id=endpoint_id, **serializer.validated_data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointDeletedSerializer},
        tags=["webhooks"],
    )
    def delete(self, request, endpoint_id: str):
        endpoint = services.webhook_endpoint_delete(**_scope(request), endpoint_id=endpoint_id)
        return Response({"id": endpoint.id, "object": "webhook_endpoint", "deleted": True})


class WebhookEndpointRotateSecretView(GatewayAPIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        parameters=[ENDPOINT_ID],
        request=WebhookEndpointRotateSecretSerializer,
        responses=WebhookEndpointWithSecretSerializer,
        tags=["webhooks"],
        description="New signing secret (shown only here); the previous one keeps signing for the overlap.",
    )
    def post(self, request, endpoint_id: str):
        serializer = WebhookEndpointRotateSecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            **_scope(request), endpoint_id=endpoint_id, overlap_seconds=serializer.validated_data.get("overlap_seconds")
        )
        return Response(WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data)
