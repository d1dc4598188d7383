"""After adding a new key to ENCRYPTION_KEYS: re-encrypt every processor account's credentials under the
active key, so the old key can be dropped. Safe to re-run; rows already on the active key are skipped."""

from audit.commands import AuditedCommand
from processors.services import processor_credentials_reencrypt


class Command(AuditedCommand):
    audit_mode = "before"  # works in batches of its own transactions
    help = "Re-encrypt processor account credentials under the active encryption key."

    def handle(self, *args, **options):
        self.stdout.write(f"re-encrypted {processor_credentials_reencrypt()} processor account(s)")
