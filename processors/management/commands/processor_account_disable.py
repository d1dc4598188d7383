from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from gateway.errors import ApiError
from processors.services import processor_account_set_active


class Command(AuditedCommand):
    help = "Disable (or with --enable, re-enable) a processor account; routing skips disabled accounts."

    def add_arguments(self, parser):
        parser.add_argument("account_id")
        parser.add_argument("--enable", action="store_true")

    def handle(self, *args, account_id, enable, **options):
        try:
            account = processor_account_set_active(account_id=account_id, is_active=enable)
        except ApiError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{account.id}: {'active' if account.is_active else 'disabled'}")
