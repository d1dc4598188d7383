"""Admin operations that move money or call a processor (refund, capture, cancel, sync): a
confirmation page first, then exactly one run per confirmation.

The page carries a one-time token. Confirming writes the ``AuditEntry`` (who, what, the object's
state before, the parameters) with that token in its own committed transaction *before* the
operation runs: the payments services commit before calling the processor
(``atomic(durable=True)``), so the operation cannot share the entry's transaction, and writing the
entry first means a crash mid-call still leaves the trail. The token is unique in the table, so a
double submit (two clicks, a browser retry) finds it taken and runs nothing again.
"""

import secrets
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.template.response import TemplateResponse

from gateway.errors import ApiError

from .selectors import audit_confirmation_token_used
from .services import actor_from_request, audit_scope, object_type_of

TOKEN_LENGTH = 32


def confirmed_operation(
    modeladmin,
    request,
    queryset,
    *,
    action: str,
    audit_action: str,
    title: str,
    facts: Callable[[Any], list[tuple[str, Any]]],
    run: Callable[[Any, dict[str, Any]], str],
    form_class: type[forms.Form] = forms.Form,
):
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one row for this operation.", level=messages.ERROR)
        return None
    obj = queryset.get()
    form = form_class(request.POST if "confirm" in request.POST else None)
    if "confirm" not in request.POST or not form.is_valid():
        return TemplateResponse(
            request,
            "admin/audit/confirm_operation.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": title,
                "object": obj,
                "facts": facts(obj),
                "form": form if form.is_bound else form_class(),
                "action": action,
                "token": request.POST.get("confirmation_token") or secrets.token_urlsafe(TOKEN_LENGTH),
                "opts": modeladmin.model._meta,
            },
        )
    token = request.POST.get("confirmation_token", "")
    if not token or len(token) > 64:
        modeladmin.message_user(request, "The confirmation is missing its token.", level=messages.ERROR)
        return None
    if audit_confirmation_token_used(token):
        return _already_done(modeladmin, request, obj)
    try:
        with transaction.atomic(), audit_scope(actor=actor_from_request(request), action=audit_action) as scope:
            scope.object_type = object_type_of(type(obj))
            scope.object_ids = [str(obj.pk)]
            scope.merchant_id = str(getattr(obj, "merchant_id", "") or "")
            scope.before = {name: value for name, value in facts(obj)}
            scope.after = {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}
            scope.outcome = "confirmed; running"
            scope.confirmation_token = token
    except IntegrityError:
        return _already_done(modeladmin, request, obj)  # the same token won a race a moment ago
    try:
        modeladmin.message_user(request, f"{obj.pk}: {run(obj, form.cleaned_data)}")
    except ApiError as exc:
        modeladmin.message_user(request, f"{obj.pk}: {exc.message}", level=messages.ERROR)
    return None


def _already_done(modeladmin, request, obj):
    modeladmin.message_user(
        request, f"{obj.pk}: this confirmation was already submitted; nothing was done again.", level=messages.WARNING
    )
    return None
