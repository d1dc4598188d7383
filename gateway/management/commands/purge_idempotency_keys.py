from gateway.commands import OperatorCommand
from gateway.idempotency import idempotency_keys_purge


class Command(OperatorCommand):
    # One audit entry in the purge's transaction (the hourly Celery task is the system's, not audited).
    help = "Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (default 24 h)."

    def handle(self, *args, **options):
        deleted = idempotency_keys_purge()
        self.audit_result = {"deleted": deleted}
        self.stdout.write(f"Deleted {deleted} expired idempotency key(s).")
