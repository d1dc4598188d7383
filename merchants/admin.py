from django.contrib import admin, messages

from audit.admin_mixins import AuditedAdmin
from gateway.cache import MERCHANT_CONFIG

from .models import ApiKey, Merchant
from .services import api_key_create, api_key_revoke, merchant_invalidate_cached_keys


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("id", "kind", "livemode", "prefix", "name", "created", "last_used_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # keys are created by the admin actions so the raw key can be shown once


@admin.register(Merchant)
class MerchantAdmin(AuditedAdmin):
    list_display = ("id", "name", "is_active", "rate_limit_per_second", "rate_limit_burst", "created")
    search_fields = ("id", "name")
    list_filter = ("is_active",)
    readonly_fields = ("id", "created", "updated")
    inlines = [ApiKeyInline]
    actions = ["create_secret_key", "create_publishable_key"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        merchant_invalidate_cached_keys(merchant=obj)
        MERCHANT_CONFIG.invalidate(obj.id)  # settings (the sandbox's) seen by every process at once

    def _create_key(self, request, queryset, kind: str) -> None:
        for merchant in queryset:
            created = api_key_create(merchant=merchant, kind=kind)
            self.message_user(
                request,
                f"New {kind} key for {merchant.name}: {created.raw_key} (shown only once)",
                level=messages.WARNING,
            )

    @admin.action(description="Create a test secret key (shown once)")
    def create_secret_key(self, request, queryset):
        self._create_key(request, queryset, "secret")

    @admin.action(description="Create a test publishable key (shown once)")
    def create_publishable_key(self, request, queryset):
        self._create_key(request, queryset, "publishable")


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    list_display = ("id", "merchant", "kind", "livemode", "prefix", "created", "last_used_at", "revoked_at")
    list_filter = ("kind", "livemode")
    search_fields = ("id", "prefix", "merchant__id", "merchant__name")
    fields = ("id", "merchant", "kind", "livemode", "prefix", "name", "created", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected keys", permissions=["revoke_api_keys"])
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
