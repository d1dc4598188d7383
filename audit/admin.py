"""The audit trail in the admin: read-only (the database refuses changes anyway), filterable, and
exportable as CSV by whoever holds ``audit.export_auditentry`` (support, finance)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils import timezone

from .admin_mixins import AuditedAdmin, AuditedReadOnlyAdmin
from .models import AuditEntry
from .selectors import audit_csv_rows
from .services import actor_from_request, audit_scope


@admin.register(AuditEntry)
class AuditEntryAdmin(AuditedReadOnlyAdmin):
    list_display = ("created", "actor", "source", "action", "object_type", "object_id", "merchant_id", "outcome")
    list_filter = ("source", "action", "object_type", "created")
    search_fields = ("id", "actor", "object_id", "merchant_id", "request_id")
    date_hierarchy = "created"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    actions = ["export_csv"]

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("audit.export_auditentry")

    @admin.action(description="Export the selected entries as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        # Access to the audit trail is itself audited (PCI DSS 10.2.1.3): one entry naming the rows.
        ids = list(queryset.order_by("id").values_list("id", flat=True))
        with transaction.atomic(), audit_scope(actor=actor_from_request(request), action="audit.export") as scope:
            scope.object_type = "audit.auditentry"
            scope.object_ids = ids
            scope.after = {"rows": len(ids)}
        response = StreamingHttpResponse(audit_csv_rows(queryset.order_by("id").iterator()), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response

    export_csv.audit_confirmed = True  # type: ignore[attr-defined]


# Accounts and roles are security changes (PCI DSS 10.2.1.5): Django's own admins, audited.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass
