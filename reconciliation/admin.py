"""Runs and items, read-only; the one change an operator makes here is resolving an item with a
reason (the same service as ``manage.py reconcile_resolve``)."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.admin_mixins import AuditedReadOnlyAdmin
from audit.services import actor_from_request, audit_scope
from gateway.admin_mixins import ReadOnlyTabularInline
from gateway.errors import ApiError

from .models import ReconciliationItem, ReconciliationRun
from .services import item_resolve


class ReconciliationItemInline(ReadOnlyTabularInline):
    model = ReconciliationItem
    fields = ("id", "classification", "kind", "processor_reference", "payment_id", "processor_amount", "resolved_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "livemode",
        "processor",
        "processor_account_id",
        "period_start",
        "lines",
        "summary",
        "last_run_at",
    )
    list_filter = ("processor", "livemode", "source")
    search_fields = ("id", "merchant__id", "processor_account_id")
    date_hierarchy = "period_start"
    inlines = [ReconciliationItemInline]


class ResolveForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, help_text="What you found and did; kept with the item.")


@admin.register(ReconciliationItem)
class ReconciliationItemAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "id",
        "run",
        "classification",
        "kind",
        "processor_reference",
        "payment_id",
        "processor_amount",
        "processor_currency",
        "gateway_amount",
        "resolved_at",
    )
    list_filter = ("classification", "kind", "livemode", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "processor_reference", "payment_id", "refund_id", "gateway_reference", "run__id")
    change_form_template = "admin/reconciliation/item_change_form.html"

    def get_urls(self):
        resolve = self.admin_site.admin_view(self.resolve_view)
        return [path("<str:item_id>/resolve/", resolve, name="reconciliation_item_resolve"), *super().get_urls()]

    def resolve_view(self, request, item_id: str):
        item = self.get_object(request, item_id)
        if item is None or not self.has_view_permission(request, item):
            return redirect(reverse("admin:reconciliation_reconciliationitem_changelist"))
        if not request.user.has_perm("reconciliation.change_reconciliationitem"):
            messages.error(request, "You may not resolve reconciliation items.")
            return redirect(reverse("admin:reconciliation_reconciliationitem_change", args=[item.id]))
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                # One audit entry, in the resolution's transaction (item_resolve's note folds into it).
                with (
                    transaction.atomic(),
                    audit_scope(
                        actor=actor_from_request(request),
                        action="admin.reconciliation_item.resolve",
                        object_type="reconciliation.reconciliationitem",
                    ) as scope,
                ):
                    scope.object_ids.append(item.id)
                    scope.merchant_id = item.merchant_id
                    item_resolve(item_id=item.id, reason=form.cleaned_data["reason"], actor=request.user.get_username())
            except ApiError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, f"Resolved {item.id}.")
            return redirect(reverse("admin:reconciliation_reconciliationitem_change", args=[item.id]))
        context = {
            **self.admin_site.each_context(request),
            "item": item,
            "form": form,
            "opts": self.model._meta,
            "title": f"Resolve {item.id}",
        }
        return TemplateResponse(request, "admin/reconciliation/item_resolve.html", context)
