"""``AuditedAdmin``: the one base every ModelAdmin of the project uses (a test walks the admin
registry), so every admin action, change and delete leaves exactly one ``AuditEntry`` in the
transaction of the change.

* Add/change saves and deletes: Django's admin already runs them in ``transaction.atomic``; the
  entry holds the changed fields' old and new values (masked).
* Inline rows (saved by ``save_related`` after ``save_model``) are listed in the same entry,
  ``after["inlines"]``: ``changeform_view`` holds the entry ``save_model`` opens until the whole
  form is saved, and holds its own transaction around Django's so the entry is written inside it.
* Actions run in ``transaction.atomic`` with the entry; an action that answers with an
  intermediate page (a confirmation) changed nothing and leaves no entry.
* Actions that call a processor cannot share a transaction with anything (the payments services
  commit before the call, ``atomic(durable=True)``): they are marked ``audit_confirmed`` and audit
  themselves on their confirmation page (``audit.confirmation``), before the call.
* An action with no ``allowed_permissions`` needs the change permission on the model, so a
  read-only role (support) is offered no action at all.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.contrib import admin
from django.db import router, transaction
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase

from .services import (
    AuditScope,
    actor_from_request,
    audit_scope,
    changed_fields,
    object_type_of,
    row_change,
    row_values,
    snapshot,
)


def _merchant_of(obj) -> str:
    value = getattr(obj, "merchant_id", "") or ""
    if not value and obj._meta.model_name == "merchant":
        value = obj.pk
    return str(value or "")


@dataclass
class _ChangeForm:
    """An admin add/change form being saved: its entry stays open (on ``closing``) until the view ends."""

    closing: ExitStack
    scope: AuditScope | None = None


_change_form: ContextVar[_ChangeForm | None] = ContextVar("audited_change_form", default=None)


def _inline_rows(formset, *, stored: dict, pks: dict) -> list[dict]:
    """What ``formset.save()`` did, row by row: changed, deleted, added (``row_change``)."""
    model, rows = formset.model, []
    for obj, _ in getattr(formset, "changed_objects", []):
        before = stored.get(obj.pk, {})
        rows.append(
            row_change(action="change", model=model, object_id=str(obj.pk), before=before, after=row_values(obj))
        )
    for obj in getattr(formset, "deleted_objects", []):
        pk = pks.get(id(obj), obj.pk)
        rows.append(row_change(action="delete", model=model, object_id=str(pk), before=stored.get(pk, {}), after={}))
    for obj in getattr(formset, "new_objects", []):
        rows.append(row_change(action="add", model=model, object_id=str(obj.pk), before={}, after=row_values(obj)))
    return rows


class AuditedAdmin(admin.ModelAdmin):
    # --- custom permissions of the operator roles (audit.roles) ---------------------------------

    def has_operate_payments_permission(self, request) -> bool:
        return request.user.has_perm("audit.operate_payments")

    def has_resend_events_permission(self, request) -> bool:
        return request.user.has_perm("audit.resend_events")

    def has_revoke_api_keys_permission(self, request) -> bool:
        return request.user.has_perm("audit.revoke_api_keys")

    # --- saves and deletes ------------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return super().changeform_view(request, object_id, form_url, extra_context)
        # Django's own atomic ends inside the view, before the entry (which waits for the inlines)
        # is written: this one holds both. An invalid form never reaches save_model: no entry.
        with transaction.atomic(using=router.db_for_write(self.model)), ExitStack() as closing:
            token = _change_form.set(_ChangeForm(closing=closing))
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                _change_form.reset(token)

    @contextmanager
    def _entry(self, request, *, action: str, model) -> Iterator[AuditScope]:
        """The change form's one entry (opened by its first save, written when the view ends), or,
        outside a change form (list_editable saves), an entry of this save's own."""
        form = _change_form.get()
        if form is None:
            with audit_scope(actor=actor_from_request(request), action=action, object_type=object_type_of(model)) as s:
                yield s
            return
        if form.scope is None:
            opened = audit_scope(actor=actor_from_request(request), action=action, object_type=object_type_of(model))
            form.scope = form.closing.enter_context(opened)
        yield form.scope

    def save_model(self, request, obj, form, change):
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change and obj.pk else None
        before = row_values(stored) if stored is not None else {}
        action = "admin.change" if change else "admin.add"
        with self._entry(request, action=action, model=type(obj)) as s:
            super().save_model(request, obj, form, change)
            s.before, s.after = changed_fields(before, row_values(obj))
            s.object_ids = [str(obj.pk)]
            s.merchant_id = _merchant_of(obj)

    def save_formset(self, request, form, formset, change):
        # Old values from the database: the forms' instances already hold the new ones, and a
        # deleted row loses its pk.
        deleting = formset.deleted_forms
        touched = [f.instance for f in formset.initial_forms if f.instance.pk and (f.has_changed() or f in deleting)]
        stored = {r.pk: row_values(r) for r in formset.model._default_manager.filter(pk__in=[o.pk for o in touched])}
        pks = {id(obj): obj.pk for obj in touched}
        with self._entry(request, action="admin.change" if change else "admin.add", model=type(form.instance)) as s:
            super().save_formset(request, form, formset, change)
            if not s.object_ids:  # an inline saved without its parent's save_model
                s.object_ids, s.merchant_id = [str(form.instance.pk)], _merchant_of(form.instance)
            s.inlines.extend(_inline_rows(formset, stored=stored, pks=pks))

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
                befores = {str(row.pk): row_values(row) for row in rows}
                actor = actor_from_request(request)
                with audit_scope(actor=actor, action=f"admin.action.{name}", object_type=object_type_of(model)) as s:
                    result = func(modeladmin, request, queryset)
                    if isinstance(result, HttpResponseBase) and not isinstance(result, HttpResponseRedirect):
                        s.skip = True  # an intermediate page: nothing done yet
                        return result
                    afters = {
                        str(row.pk): row_values(row)
                        for row in model._default_manager.filter(pk__in=[r.pk for r in rows])
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
