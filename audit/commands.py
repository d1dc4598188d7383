"""``AuditedCommand``: the base of every state-changing management command. One ``AuditEntry``
per run (``command.<name>``, the options masked, the OS user), written in the run's transaction.

``audit_mode``:

* ``"transaction"`` (default): the whole command and its entry are one transaction; a command
  that fails leaves neither.
* ``"before"``: commands that work in batches of their own transactions (key rotation,
  re-encryption) or call a processor (which must not happen inside a transaction): the entry is
  committed before the work starts, so a crash mid-way still leaves the trail, and its outcome
  is the command's own output.

``audit_result``: what the run did (rows deleted...), set by ``handle``, recorded as
``after["result"]`` (transaction mode). ``command_run_audited`` is also the runner the gateway
layer's commands go through (``gateway.commands``, registered by ``AuditConfig.ready``): gateway
imports no app.
"""

import getpass
import os
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from .models import AuditEntry
from .services import Actor, AuditScope, audit_scope

_COMMON_OPTIONS = {"verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks"}


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def command_run_audited(*, command: BaseCommand, args: tuple, options: dict[str, Any], run: Callable[[], Any]) -> Any:
    """Run ``command`` (``run()``: its ``BaseCommand.execute``) with its one entry, per its ``audit_mode``."""
    name = command.__class__.__module__.rsplit(".", 1)[-1]  # the command's name: its module's
    actor = Actor(source=AuditEntry.Source.COMMAND, name=f"{_os_user()} (manage.py {name})")
    recorded = {k: v for k, v in options.items() if k not in _COMMON_OPTIONS and k not in ("stdout", "stderr")}
    if getattr(command, "audit_mode", "transaction") == "before":
        with transaction.atomic(), audit_scope(actor=actor, action=f"command.{name}") as scope:
            scope.after = {"options": recorded, "args": list(args)}
            scope.outcome = "started"
        return run()
    with transaction.atomic(), audit_scope(actor=actor, action=f"command.{name}") as scope:
        scope.after = {"options": recorded, "args": list(args)}
        command.audit = scope
        output = run()
        if getattr(command, "audit_result", None):
            scope.after["result"] = command.audit_result
        scope.outcome = scope.outcome or "done"
        return output


class AuditedCommand(BaseCommand):
    audit_mode = "transaction"
    audit: AuditScope | None = None
    audit_result: dict[str, Any] | None = None

    def execute(self, *args, **options):
        return command_run_audited(
            command=self, args=args, options=options, run=partial(super().execute, *args, **options)
        )
