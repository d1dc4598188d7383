from django.contrib import admin

from .models import SandboxCharge, SandboxFaultPlan, SandboxRefund


class ReadOnlyAdmin(admin.ModelAdmin):
    """The sandbox's book plays an outside processor's records: visible, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SandboxRefundInline(admin.TabularInline):
    model = SandboxRefund
    extra = 0
    can_delete = False
    fields = ("id", "reference", "amount", "currency", "status", "created")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdmin):
    list_display = ("id", "merchant_id", "reference", "payment_method_type", "brand", "last4", "amount", "currency",
                    "status", "action", "amount_captured", "amount_refunded", "created")  # fmt: skip
    list_filter = ("status", "payment_method_type", "action")
    search_fields = ("id", "reference", "merchant_id")
    inlines = [SandboxRefundInline]


@admin.register(SandboxRefund)
class SandboxRefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "merchant_id", "reference", "charge", "amount", "currency", "status", "created")
    search_fields = ("id", "reference", "merchant_id", "charge__id")


@admin.register(SandboxFaultPlan)
class SandboxFaultPlanAdmin(admin.ModelAdmin):
    list_display = ("merchant_id", "remaining", "mode", "operations", "updated")
    search_fields = ("merchant_id",)
