"""Operators' view of payments, refunds and saved payment methods.

Money fields are read-only: money moves only through the services (processor call, ledger,
events). Actions run those services. No ciphertext is ever shown (``vault_token`` is excluded).
"""

from django.contrib import admin, messages

from gateway.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from gateway.errors import ApiError
from gateway.money import to_decimal_string

from .models import Payment, PaymentAttempt, PaymentMethod, Refund
from .services import payment_cancel, payment_sync


class PaymentAttemptInline(ReadOnlyTabularInline):
    model = PaymentAttempt
    fields = (
        "id",
        "operation",
        "status",
        "processor",
        "processor_account_id",
        "processor_reference",
        "amount",
        "error_code",
        "decline_code",
        "latency_ms",
        "sync_attempts",
        "next_sync_at",
        "flagged_at",
        "created",
    )
    readonly_fields = fields
    ordering = ("id",)


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    fields = ("id", "amount", "status", "reason", "failure_reason", "processor_reference", "flagged_at", "created")
    readonly_fields = fields
    ordering = ("id",)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "status",
        "amount_display",
        "amount_received",
        "amount_refunded",
        "review_reason",
        "created",
    )
    list_filter = ("status", "capture_method", "processor", "livemode", "created")
    search_fields = ("id", "processor_reference", "order__id", "customer__id")
    list_select_related = ("merchant",)
    date_hierarchy = "created"
    inlines = [PaymentAttemptInline, RefundInline]
    actions = ["sync_with_processor", "cancel_payments"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    fields = (
        "id",
        "merchant",
        "livemode",
        "status",
        "amount",
        "currency",
        "capture_method",
        "amount_authorized",
        "amount_capturable",
        "amount_received",
        "amount_refunded",
        "order",
        "customer",
        "payment_method",
        "payment_method_type",
        "card_brand",
        "card_last4",
        "card_exp_month",
        "card_exp_year",
        "card_fingerprint",
        "processor",
        "processor_account_id",
        "processor_reference",
        "last_payment_error",
        "next_action",
        "decline_count",
        "review_reason",
        "description",
        "metadata",
        "return_url",
        "canceled_at",
        "cancellation_reason",
        "created",
        "updated",
    )

    @admin.display(description="amount")
    def amount_display(self, obj: Payment) -> str:
        return f"{to_decimal_string(obj.amount, obj.currency)} {obj.currency}"

    @admin.action(description="Ask the processor about unresolved operations (status sync)")
    def sync_with_processor(self, request, queryset):
        for payment in queryset:
            synced = payment_sync(payment_id=payment.id, scheduled=False)
            self.message_user(request, f"{synced.id}: {synced.status}")

    @admin.action(description="Cancel (void the authorization)")
    def cancel_payments(self, request, queryset):
        for payment in queryset:
            try:
                canceled = payment_cancel(merchant_id=payment.merchant_id, payment_id=payment.id)
                self.message_user(request, f"{canceled.id}: {canceled.status}")
            except ApiError as exc:
                self.message_user(request, f"{payment.id}: {exc.message}", level=messages.ERROR)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "payment",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "flagged_at",
        "created",
    )
    list_filter = ("status", "reason", "livemode", "created")
    search_fields = ("id", "payment__id", "processor_reference")
    list_select_related = ("merchant", "payment")
    readonly_fields = [f.name for f in Refund._meta.fields]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ("id", "merchant", "customer", "type", "card_brand", "card_last4", "detached_at", "created")
    list_filter = ("type", "card_brand", "livemode")
    search_fields = ("id", "customer__id", "card_fingerprint", "card_last4")
    exclude = ("vault_token",)
    readonly_fields = [f.name for f in PaymentMethod._meta.fields if f.name != "vault_token"]
