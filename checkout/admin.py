"""Operators' view of checkout sessions: read-only (sessions move only through the services),
with one action, "expire", that runs ``checkout_session_expire``."""

from django.contrib import admin, messages

from audit.admin_mixins import AuditedReadOnlyAdmin
from gateway.errors import ApiError

from .models import CheckoutSession
from .services import checkout_session_expire


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "short_id",
        "merchant",
        "livemode",
        "status",
        "payment_status",
        "amount_total",
        "currency",
        "created",
    )
    list_filter = ("status", "payment_status", "livemode")
    search_fields = ("=id", "=payment__id", "=order__id", "=customer__id")
    readonly_fields = [f.name for f in CheckoutSession._meta.fields]
    actions = ["expire_sessions"]

    @admin.display(description="id")
    def short_id(self, obj: CheckoutSession) -> str:
        return f"{obj.id[:16]}…"

    @admin.action(description="Expire the selected open sessions", permissions=["operate_payments"])
    def expire_sessions(self, request, queryset):
        for session in queryset.filter(status="open"):
            try:
                checkout_session_expire(session_id=session.id)
            except ApiError as exc:
                self.message_user(request, f"{session.id[:16]}…: {exc.message}", level=messages.WARNING)
