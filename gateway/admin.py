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
