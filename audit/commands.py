"""``AuditedCommand``: the base of every state-changing management command. One ``AuditEntry``
per run (``command.<name>``, the options masked, the OS user), written in the run's transaction.

``audit_mode``:

* ``"transaction"`` (default): the whole command and its entry are one transaction; a command
  that fails leaves neither.
* ``"before"``: commands that work in batches of their own transactions (key rotation,
  re-encryption) or call a processor (which must not happen inside a transaction): the entry is
  committed before the work starts, so a crash mid-way still leaves the trail, and its outcome
  is the command's own output.
"""

import getpass
import os

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


class AuditedCommand(BaseCommand):
    audit_mode = "transaction"
    audit: AuditScope | None = None

    @property
    def audit_name(self) -> str:
        return self.__class__.__module__.rsplit(".", 1)[-1]

    def execute(self, *args, **options):
        actor = Actor(source=AuditEntry.Source.COMMAND, name=f"{_os_user()} (manage.py {self.audit_name})")
        recorded = {k: v for k, v in options.items() if k not in _COMMON_OPTIONS and k not in ("stdout", "stderr")}
        if self.audit_mode == "before":
            with transaction.atomic(), audit_scope(actor=actor, action=f"command.{self.audit_name}") as scope:
                scope.after = {"options": recorded, "args": list(args)}
                scope.outcome = "started"
            return super().execute(*args, **options)
        with transaction.atomic(), audit_scope(actor=actor, action=f"command.{self.audit_name}") as scope:
            scope.after = {"options": recorded, "args": list(args)}
            self.audit = scope
            output = super().execute(*args, **options)
            scope.outcome = scope.outcome or "done"
            return output
