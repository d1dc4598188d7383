"""Disputes in the admin: read-only (the processor decides a dispute; the gateway mirrors it)."""

from django.contrib import admin

from audit.admin_mixins import AuditedReadOnlyAdmin

from .models import Dispute


@admin.register(Dispute)
class DisputeAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "payment",
        "status",
        "amount",
        "currency",
        "fee",
        "reason",
        "evidence_due_by",
        "books_flagged_at",
    )
    list_filter = ("status", "processor", "livemode", ("books_flagged_at", admin.EmptyFieldListFilter), "created")
    search_fields = ("id", "payment__id", "processor_reference", "order_id")
    readonly_fields = [f.name for f in Dispute._meta.fields]
