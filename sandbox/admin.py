from django.contrib import admin

from audit.admin_mixins import AuditedAdmin, AuditedReadOnlyAdmin
from gateway.admin_mixins import ReadOnlyTabularInline

from .faults import sandbox_config_changed
from .models import SandboxCharge, SandboxDispute, SandboxFaultPlan, SandboxRefund


class SandboxRefundInline(ReadOnlyTabularInline):
    model = SandboxRefund
    fields = ("id", "reference", "amount", "currency", "status", "created")
    readonly_fields = fields


# The sandbox's book plays an outside processor's records: visible, never edited by hand.
@admin.register(SandboxCharge)
class SandboxChargeAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant_id", "reference", "payment_method_type", "brand", "last4", "amount", "currency",
                    "status", "action", "amount_captured", "amount_refunded", "created")  # fmt: skip
    list_filter = ("status", "payment_method_type", "action")
    search_fields = ("id", "reference", "merchant_id")
    inlines = [SandboxRefundInline]


@admin.register(SandboxRefund)
class SandboxRefundAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant_id", "reference", "charge", "amount", "currency", "status", "created")
    search_fields = ("id", "reference", "merchant_id", "charge__id")


@admin.register(SandboxFaultPlan)
class SandboxFaultPlanAdmin(AuditedAdmin):
    list_display = ("merchant_id", "remaining", "mode", "operations", "updated")
    search_fields = ("merchant_id",)

    # The sandbox reads its plan from each process's cache of the merchant's configuration:
    # an admin change invalidates it, so the next call everywhere sees it.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        sandbox_config_changed(obj.merchant_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        sandbox_config_changed(obj.merchant_id)

    def delete_queryset(self, request, queryset):
        merchant_ids = set(queryset.values_list("merchant_id", flat=True))
        super().delete_queryset(request, queryset)
        for merchant_id in merchant_ids:
            sandbox_config_changed(merchant_id)


@admin.register(SandboxDispute)
class SandboxDisputeAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant_id", "charge", "status", "amount", "currency", "fee", "delivered_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in SandboxDispute._meta.fields]
