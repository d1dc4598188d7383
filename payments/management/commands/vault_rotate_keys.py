"""Re-encrypt every stored card (payment methods) under the newest key of ENCRYPTION_KEYS.

Rotation: append a new key to ENCRYPTION_KEYS (it becomes the active one), deploy, run this
command, then remove the old key once it reports nothing left to change.
"""

from audit.commands import AuditedCommand
from payments.services import payment_methods_reencrypt


class Command(AuditedCommand):
    audit_mode = "before"  # works in batches of its own transactions
    help = "Re-encrypt vaulted cards under the newest encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        changed = payment_methods_reencrypt(batch_size=batch_size)
        self.stdout.write(f"re-encrypted {changed} payment method(s) under the active key")
