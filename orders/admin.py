"""Operators' view of orders. Every change goes through the same services as the API (events,
notifications and cache invalidation included); fields are never edited directly."""

from django.contrib import admin, messages

from audit.admin_mixins import AuditedAdmin
from gateway.errors import ApiError
from gateway.money import to_decimal_string

from .models import Notification, Order, OrderLine
from .services import notification_retry, order_cancel, order_fulfill


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("position", "sku", "name", "quantity", "unit_amount", "amount")
    readonly_fields = fields
    ordering = ("position",)


class NotificationInline(ReadOnlyInline):
    model = Notification
    verbose_name_plural = "notification log"
    fields = ("id", "kind", "recipient", "status", "attempts", "last_error", "sent_at", "created")
    readonly_fields = fields
    ordering = ("id",)


@admin.register(Order)
class OrderAdmin(AuditedAdmin):
    list_display = (
        "id",
        "merchant",
        "customer",
        "livemode",
        "status",
        "total_display",
        "amount_paid",
        "amount_refunded",
        "created",
    )
    list_filter = ("status", "created", "livemode")
    search_fields = ("id", "customer__email")
    list_select_related = ("merchant", "customer")
    date_hierarchy = "created"
    fields = (
        "id",
        "merchant",
        "customer",
        "livemode",
        "status",
        "currency",
        "subtotal",
        "shipping_amount",
        "tax_amount",
        "total",
        "amount_paid",
        "amount_refunded",
        "metadata",
        "paid_at",
        "fulfilled_at",
        "canceled_at",
        "created",
        "updated",
    )
    readonly_fields = fields
    inlines = [OrderLineInline, NotificationInline]
    actions = ["cancel_orders", "fulfill_orders"]

    def has_add_permission(self, request) -> bool:
        return False  # orders come from the API, with their event and notification

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="total", ordering="total")
    def total_display(self, obj: Order) -> str:
        return f"{to_decimal_string(obj.total, obj.currency)} {obj.currency}"

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for order in queryset:
            try:
                service(merchant_id=order.merchant_id, order_id=order.id, livemode=order.livemode)
            except ApiError as exc:
                self.message_user(request, f"{order.id}: {exc.message}", level=messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} order(s).", level=messages.SUCCESS)

    @admin.action(description="Cancel selected orders (unpaid only)")
    def cancel_orders(self, request, queryset):
        self._apply(request, queryset, order_cancel, "Canceled")

    @admin.action(description="Fulfil selected orders (paid only)")
    def fulfill_orders(self, request, queryset):
        self._apply(request, queryset, order_fulfill, "Fulfilled")


@admin.register(Notification)
class NotificationAdmin(AuditedAdmin):
    list_display = ("id", "order", "kind", "recipient", "status", "attempts", "sent_at", "created")
    list_filter = ("status", "kind")
    search_fields = ("id", "order__id", "recipient")
    fields = ("id", "merchant", "order", "kind", "recipient", "status", "attempts", "last_error", "sent_at", "created")
    readonly_fields = fields
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send failed notifications again")
    def retry(self, request, queryset):
        retried = sum(1 for notification in queryset if notification_retry(notification_id=notification.id))
        self.message_user(request, f"Queued {retried} notification(s) again.")
