"""Read-only views of the books: the ledger is written by services only and never edited."""

from django.contrib import admin

from audit.admin_mixins import AuditedReadOnlyAdmin
from gateway.admin_mixins import ReadOnlyTabularInline

from .models import JournalEntry, JournalLine, LedgerAccount


class JournalLineInline(ReadOnlyTabularInline):
    model = JournalLine
    fields = ("account", "debit", "credit")
    readonly_fields = fields


@admin.register(LedgerAccount)
class LedgerAccountAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant", "code", "type", "currency", "created")
    list_filter = ("code", "currency")
    search_fields = ("merchant__id", "merchant__name")
    list_select_related = ("merchant",)


@admin.register(JournalEntry)
class JournalEntryAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant", "kind", "amount", "currency", "payment_id", "refund_id", "created")
    list_filter = ("kind", "currency")
    search_fields = ("id", "payment_id", "refund_id", "operation_ref", "merchant__id")
    list_select_related = ("merchant",)
    date_hierarchy = "created"
    fields = (
        "id",
        "merchant",
        "kind",
        "amount",
        "currency",
        "payment_id",
        "refund_id",
        "operation_ref",
        "description",
        "created",
    )
    readonly_fields = fields
    inlines = [JournalLineInline]
