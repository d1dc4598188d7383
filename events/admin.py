"""Operators' view of events, endpoints and deliveries. Signing secrets are never shown; the
resend actions call the same service as the API."""

from django.contrib import admin, messages

from audit.admin_mixins import AuditedAdmin, AuditedReadOnlyAdmin
from gateway.admin_mixins import ReadOnlyTabularInline
from gateway.errors import ApiError

from . import services
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint


class DeliveryAttemptInline(ReadOnlyTabularInline):
    model = DeliveryAttempt
    fields = ("number", "attempted_at", "succeeded", "status_code", "latency_ms", "error", "ip", "response_body")
    readonly_fields = fields


class DeliveryInline(ReadOnlyTabularInline):
    model = Delivery
    show_change_link = True
    fields = ("id", "endpoint", "is_resend", "status", "attempt_count", "next_attempt_at", "last_attempt_at")
    readonly_fields = fields


def _resend(request, pairs) -> None:
    created = 0
    for event, endpoint in pairs:
        try:
            created += len(
                services.event_resend(
                    merchant_id=event.merchant_id,
                    livemode=event.livemode,
                    event_id=event.id,
                    endpoint_id=endpoint.id if endpoint is not None else None,
                )
            )
        except ApiError as exc:
            messages.warning(request, f"{event.id}: {exc.message}")
    messages.success(request, f"{created} deliveries scheduled.")


@admin.register(Event)
class EventAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant", "type", "livemode", "created", "deliveries_scheduled_at")
    list_filter = ("type", "livemode", "created")
    search_fields = ("id", "merchant__id", "request_id", "idempotency_key")
    readonly_fields = [f.name for f in Event._meta.fields]
    inlines = [DeliveryInline]
    actions = ["resend_to_subscribed_endpoints"]

    @admin.action(description="Resend to every enabled endpoint subscribed to the event", permissions=["resend_events"])
    def resend_to_subscribed_endpoints(self, request, queryset):
        _resend(request, [(event, None) for event in queryset])


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdmin):
    list_display = ("id", "merchant", "url", "enabled", "livemode", "failing_since", "flagged_at", "deleted_at")
    list_filter = ("enabled", "livemode", ("flagged_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "merchant__id", "url")
    # The secret columns are excluded from every form and list: they are shown only to the API caller.
    exclude = ("secret_encrypted", "previous_secret_encrypted")
    readonly_fields = (
        "id",
        "merchant",
        "livemode",
        "url",
        "enabled_events",
        "previous_secret_expires_at",
        "failing_since",
        "flagged_at",
        "deleted_at",
        "created",
        "updated",
    )
    fields = ("id", "merchant", "livemode", "url", "description", "enabled_events", "enabled", *readonly_fields[5:])

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "event", "endpoint", "is_resend", "status", "attempt_count", "next_attempt_at", "created")
    list_filter = ("status", "is_resend", "created")
    search_fields = ("id", "event__id", "endpoint__id", "merchant__id")
    list_select_related = ("event", "endpoint")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    @admin.action(description="Resend the event to the same endpoint", permissions=["resend_events"])
    def resend(self, request, queryset):
        _resend(request, [(d.event, d.endpoint) for d in queryset.select_related("event", "endpoint")])
