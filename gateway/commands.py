"""State-changing management commands of the gateway layer (``purge_idempotency_keys``).

Every state-changing command leaves one audit entry (docs/operators.md), but the trail belongs to
the audit app and gateway imports no app: the audit app hands over how it runs a command audited
at start-up (``AuditConfig.ready`` -> ``operator_command_runner_set``), as payments registers its
idempotency recoverers. Without a runner the command refuses to run rather than change state
unrecorded.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError

# runner(command=, args=, options=, run=) -> run()'s output, with the command's entry around it.
Runner = Callable[..., Any]
_runner: Runner | None = None


def operator_command_runner_set(runner: Runner) -> None:
    global _runner
    _runner = runner


class OperatorCommand(BaseCommand):
    """``audit.commands.AuditedCommand`` for the gateway layer: the same entry, in the same
    transaction as the command's work."""

    # What the run did, set by ``handle``: recorded in the entry (``after["result"]``).
    audit_result: dict[str, Any] | None = None

    def execute(self, *args, **options):
        if _runner is None:
            raise CommandError("no audit trail to record this command in (is the audit app installed?)")
        return _runner(command=self, args=args, options=options, run=partial(super().execute, *args, **options))
