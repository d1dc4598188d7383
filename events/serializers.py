from rest_framework import serializers

from gateway.serializers import StrictSerializer, deleted_object_serializer

from .models import Delivery, Event, WebhookEndpoint


def _unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


# --- Events -------------------------------------------------------------------------------------


class EventDataSerializer(serializers.Serializer):
    object = serializers.JSONField(help_text="The API representation of the object at the time of the change.")


class EventRequestSerializer(serializers.Serializer):
    id = serializers.CharField(source="request_id", allow_null=True, help_text="Request id that caused the event.")
    idempotency_key = serializers.CharField(allow_null=True)


class EventSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.SerializerMethodField()
    type = serializers.CharField()
    created = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    data = EventDataSerializer()
    request = EventRequestSerializer(source="*")

    def get_object(self, obj: Event) -> str:
        return "event"

    def get_created(self, obj: Event) -> int:
        return _unix(obj.created)


def event_representation(event: Event) -> dict:
    return dict(EventSerializer(event).data)


class EventResendSerializer(StrictSerializer):
    webhook_endpoint = serializers.CharField(
        required=False, max_length=40, help_text="Only this endpoint; default: every enabled endpoint subscribed."
    )


# --- Webhook endpoints ------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()
    updated = serializers.SerializerMethodField()
    failing_since = serializers.SerializerMethodField(help_text="First failed attempt since the last success.")
    flagged_at = serializers.SerializerMethodField(help_text="When a delivery to this endpoint gave up retrying.")
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="During a secret rotation: when the previous secret stops signing."
    )
    enabled_events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "object",
            "url",
            "description",
            "enabled_events",
            "enabled",
            "livemode",
            "failing_since",
            "flagged_at",
            "previous_secret_expires_at",
            "created",
            "updated",
        ]

    def get_object(self, obj) -> str:
        return "webhook_endpoint"

    def get_created(self, obj) -> int:
        return _unix(obj.created)

    def get_updated(self, obj) -> int:
        return _unix(obj.updated)

    def get_failing_since(self, obj) -> int | None:
        return _unix(obj.failing_since)

    def get_flagged_at(self, obj) -> int | None:
        return _unix(obj.flagged_at)

    def get_previous_secret_expires_at(self, obj) -> int | None:
        return _unix(obj.previous_secret_expires_at) if obj.previous_secret_encrypted else None


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(help_text="The signing secret; shown only in this response.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, obj) -> str:
        return self.context["secret"]


WebhookEndpointDeletedSerializer = deleted_object_serializer("webhook_endpoint", "WebhookEndpointDeletedSerializer")


_EVENTS_HELP = 'Event types to receive, or ["*"] for all.'


class WebhookEndpointCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2048)
    enabled_events = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100, help_text=_EVENTS_HELP
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2048, required=False)
    enabled_events = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100, required=False, help_text=_EVENTS_HELP
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class WebhookEndpointRotateSecretSerializer(StrictSerializer):
    overlap_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=7 * 24 * 3600,
        help_text="How long the previous secret keeps signing alongside the new one (default 24 h).",
    )


# --- Deliveries -----------------------------------------------------------------------------------


class WebhookDeliverySerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    event = serializers.CharField(source="event_id")
    webhook_endpoint = serializers.CharField(source="endpoint_id")
    next_attempt_at = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "object", "event", "webhook_endpoint", "status", "attempt_count", "next_attempt_at", "created"]

    def get_object(self, obj) -> str:
        return "webhook_delivery"

    def get_next_attempt_at(self, obj) -> int | None:
        return _unix(obj.next_attempt_at) if obj.status == Delivery.Status.PENDING else None

    def get_created(self, obj) -> int:
        return _unix(obj.created)
