from django.core.management.base import BaseCommand

from gateway.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (default 24 h)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {idempotency_keys_purge()} expired idempotency key(s).")
