"""Writing the audit trail. Nothing else writes ``AuditEntry`` rows (and the database refuses to
change one once written).

Every operator action leaves exactly one entry, written in the transaction of the change, so the
entry and the change commit or roll back together:

* admin actions, change and delete saves: ``audit.admin_mixins.AuditedAdmin`` (the rows an admin
  form's inlines add, change or delete are listed in the form's entry, ``after["inlines"]``);
* state-changing management commands: ``audit.commands.AuditedCommand``;
* key and processor-credential changes made by services (``audit_note``): folded into the
  operator's entry when one is open (``audit_scope``), else an entry of their own.
"""

import datetime
import decimal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from gateway.context import current_request_id
from gateway.forwarded import client_ip

from .masking import masked
from .models import AuditEntry

_OBJECT_ID_MAX = AuditEntry._meta.get_field("object_id").max_length


@dataclass
class Actor:
    source: str
    name: str
    user_id: int | None = None
    request_id: str = ""
    ip: str | None = None


@dataclass
class AuditScope:
    """One operator action in progress; its single entry is written when the scope closes."""

    actor: Actor
    action: str
    object_type: str = ""
    object_ids: list[str] = field(default_factory=list)
    merchant_id: str = ""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    inlines: list[dict[str, Any]] = field(default_factory=list)  # rows saved by the form's inlines (row_change)
    outcome: str = ""
    confirmation_token: str | None = None
    skip: bool = False  # nothing happened (an intermediate confirmation page): no entry


_current_scope: ContextVar[AuditScope | None] = ContextVar("audit_scope", default=None)


def actor_from_request(request) -> Actor:
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    return Actor(
        source=AuditEntry.Source.ADMIN,
        name=user.get_username() if authenticated else "anonymous",
        user_id=user.pk if authenticated else None,
        request_id=getattr(request, "request_id", "") or current_request_id() or "",
        ip=client_ip(request) if request is not None else None,
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def row_values(obj: models.Model) -> dict[str, Any]:
    """The row's values by field name (foreign keys by id), *not* masked: only to compare (a changed
    secret must show as changed, which two masked values never do); never stored."""
    return {f.name: jsonable(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The row's stored values by field name (foreign keys by id), masked."""
    return masked(row_values(obj))


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value differs: (old values, new values), masked (a changed secret is
    listed, as ``[masked]`` on both sides)."""
    names = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    return masked({n: before[n] for n in names if n in before}), masked({n: after[n] for n in names if n in after})


def object_type_of(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def row_change(
    *, action: str, model: type[models.Model], object_id: str, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """One row an admin inline added, changed or deleted (``action``: add, change, delete), as listed
    in the form's entry: ``changed`` maps each differing field to ``[old, new]`` (``None`` for the
    side where the row does not exist), masked: a secret field shows as ``[masked]``."""
    names = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    return {
        "model": object_type_of(model),
        "id": object_id,
        "action": action,
        "changed": masked({n: [before.get(n), after.get(n)] for n in names}),
    }


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str = "",
    object_id: str = "",
    merchant_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    outcome: str = "",
    confirmation_token: str | None = None,
) -> AuditEntry:
    """Write one entry. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit entries are written inside the transaction of the change they record")
    return AuditEntry.objects.create(
        source=actor.source,
        actor=actor.name[:150],
        actor_user_id=actor.user_id,
        action=action[:100],
        object_type=object_type[:100],
        object_id=_ids_text(object_id),
        merchant_id=merchant_id[:40],
        before=masked(jsonable(before or {})),
        after=masked(jsonable(after or {})),
        outcome=outcome[:255],
        request_id=(actor.request_id or current_request_id() or "")[:64],
        ip=actor.ip or None,
        confirmation_token=confirmation_token,
    )


def _ids_text(object_id: str) -> str:
    if len(object_id) <= _OBJECT_ID_MAX:
        return object_id
    return object_id[: _OBJECT_ID_MAX - 3] + "..."


@contextmanager
def audit_scope(*, actor: Actor, action: str, object_type: str = "") -> Iterator[AuditScope]:
    """Open one operator action: everything in the block (and every ``audit_note`` it causes) ends in
    one entry, written when the block ends without an exception. The caller holds the transaction."""
    scope = AuditScope(actor=actor, action=action, object_type=object_type)
    token = _current_scope.set(scope)
    try:
        yield scope
    finally:
        _current_scope.reset(token)
    if scope.skip:
        return
    after = dict(scope.after)
    if scope.notes:
        after["changes"] = scope.notes
    if scope.inlines:
        after["inlines"] = scope.inlines
    audit_record(
        actor=actor,
        action=scope.action,
        object_type=scope.object_type,
        object_id=",".join(scope.object_ids),
        merchant_id=scope.merchant_id,
        before=scope.before,
        after=after,
        outcome=scope.outcome,
        confirmation_token=scope.confirmation_token,
    )


def audit_note(
    *,
    action: str,
    object_type: str,
    object_id: str,
    merchant_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """A security-relevant change made by a service (API key created or revoked, processor
    credentials replaced): part of the operator's entry when one is open, else its own entry
    (actor: the API request, or ``system``)."""
    scope = _current_scope.get()
    note = {
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": masked(jsonable(before or {})),
        "after": masked(jsonable(after or {})),
    }
    if scope is not None:
        scope.notes.append(note)
        if not scope.merchant_id and merchant_id:
            scope.merchant_id = merchant_id
        return
    request_id = current_request_id() or ""
    actor = Actor(source=AuditEntry.Source.API if request_id else AuditEntry.Source.SYSTEM, name="system")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            merchant_id=merchant_id,
            before=before,
            after=after,
        )
