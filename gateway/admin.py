from django.contrib import admin

from .models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "merchant_id", "scope", "request_method", "request_path", "response_status", "created")
    search_fields = ("key", "merchant_id")
    list_filter = ("response_status",)
    exclude = ("response_body",)
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields if f.name != "response_body"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Read-only (gateway imports no app, so this admin cannot be audited): keys expire and are
        # purged by ``manage.py purge_idempotency_keys``, an audited command.
        return False
