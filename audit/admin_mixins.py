"""``AuditedAdmin``: the one base every ModelAdmin of the project uses (a test walks the admin
registry), so every admin action, change and delete leaves exactly one ``AuditEntry`` in the
transaction of the change.

* Add/change saves and deletes: Django's admin already runs them in ``transaction.atomic``; the
  entry holds the changed fields' old and new values (masked).
* Actions run in ``transaction.atomic`` with the entry; an action that answers with an
  intermediate page (a confirmation) changed nothing and leaves no entry.
* Actions that call a processor cannot share a transaction with anything (the payments services
  commit before the call, ``atomic(durable=True)``): they are marked ``audit_confirmed`` and audit
  themselves on their confirmation page (``audit.confirmation``), before the call.
* An action with no ``allowed_permissions`` needs the change permission on the model, so a
  read-only role (support) is offered no action at all.
"""

from functools import wraps

from django.contrib import admin
from django.db import transaction
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase

from .services import actor_from_request, audit_scope, changed_fields, object_type_of, snapshot


def _merchant_of(obj) -> str:
    value = getattr(obj, "merchant_id", "") or ""
    if not value and obj._meta.model_name == "merchant":
        value = obj.pk
    return str(value or "")


class AuditedAdmin(admin.ModelAdmin):
    # --- custom permissions of the operator roles (audit.roles) ---------------------------------

    def has_operate_payments_permission(self, request) -> bool:
        return request.user.has_perm("audit.operate_payments")

    def has_resend_events_permission(self, request) -> bool:
        return request.user.has_perm("audit.resend_events")

    def has_revoke_api_keys_permission(self, request) -> bool:
        return request.user.has_perm("audit.revoke_api_keys")

    # --- saves and deletes ------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change and obj.pk else None
        before = snapshot(stored) if stored is not None else {}
        action = "admin.change" if change else "admin.add"
        with audit_scope(actor=actor_from_request(request), action=action, object_type=object_type_of(type(obj))) as s:
            super().save_model(request, obj, form, change)
            s.before, s.after = changed_fields(before, snapshot(obj))
            s.object_ids = [str(obj.pk)]
            s.merchant_id = _merchant_of(obj)

    def delete_model(self, request, obj):
        before = snapshot(obj)
        actor = actor_from_request(request)
        with audit_scope(actor=actor, action="admin.delete", object_type=object_type_of(type(obj))) as scope:
            scope.object_ids = [str(obj.pk)]
            scope.merchant_id = _merchant_of(obj)
            scope.before = before
            super().delete_model(request, obj)

    # --- actions ----------------------------------------------------------------------------------

    def _filter_actions_by_permissions(self, request, actions):
        allowed = super()._filter_actions_by_permissions(request, actions)
        return [
            action
            for action in allowed
            if getattr(action[0], "allowed_permissions", None) or self.has_change_permission(request)
        ]

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: (self._audited(func, name), name, text) for name, (func, _, text) in actions.items()}

    def _audited(self, func, name: str):
        if getattr(func, "audit_confirmed", False):
            return func

        @wraps(func)
        def run(modeladmin, request, queryset):
            model = queryset.model
            with transaction.atomic():
                rows = list(queryset)
                befores = {str(row.pk): snapshot(row) for row in rows}
                actor = actor_from_request(request)
                with audit_scope(actor=actor, action=f"admin.action.{name}", object_type=object_type_of(model)) as s:
                    result = func(modeladmin, request, queryset)
                    if isinstance(result, HttpResponseBase) and not isinstance(result, HttpResponseRedirect):
                        s.skip = True  # an intermediate page: nothing done yet
                        return result
                    afters = {
                        str(row.pk): snapshot(row) for row in model._default_manager.filter(pk__in=[r.pk for r in rows])
                    }
                    s.object_ids = list(befores)
                    merchants = {_merchant_of(row) for row in rows}
                    s.merchant_id = merchants.pop() if len(merchants) == 1 else ""
                    for pk, before in befores.items():
                        old, new = changed_fields(before, afters.get(pk, {}))
                        if old or new:
                            s.before[pk], s.after[pk] = old, new
            return result

        return run


class AuditedReadOnlyAdmin(AuditedAdmin):
    """Rows operators read but never edit (outboxes, books, an outside processor's records)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
