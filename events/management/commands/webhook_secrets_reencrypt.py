"""After adding a new key to ENCRYPTION_KEYS: re-encrypt every webhook signing secret under the
active key, so the old key can be dropped. Safe to re-run; rows already on the active key are skipped."""

from audit.commands import AuditedCommand
from events.services import webhook_secrets_reencrypt


class Command(AuditedCommand):
    audit_mode = "before"  # works in batches of its own transactions
    help = "Re-encrypt webhook endpoint secrets under the active encryption key."

    def handle(self, *args, **options):
        count = webhook_secrets_reencrypt()
        self.stdout.write(f"re-encrypted {count} webhook endpoint(s)")
