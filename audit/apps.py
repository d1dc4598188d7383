from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Permissions exist only after every app's post_migrate (Django creates them there), and the
        # finance role names models of apps that may not be installed: grant them by codename once
        # everything has migrated, skipping what does not exist (audit/roles.py).
        from gateway.commands import operator_command_runner_set

        from .commands import command_run_audited
        from .roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="audit.roles_sync")
        # The gateway layer's state-changing commands (it imports no app) are audited like the others.
        operator_command_runner_set(command_run_audited)
