from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from sandbox.disputes import sandbox_dispute_close, sandbox_disputes_deliver
from sandbox.models import SandboxDispute


class Command(AuditedCommand):
    help = "Decide a sandbox dispute (sbdp_...) won or lost and deliver it to the gateway now."

    def add_arguments(self, parser):
        parser.add_argument("dispute_id")
        parser.add_argument("--outcome", choices=("won", "lost"), required=True)

    def handle(self, *args, dispute_id: str, outcome: str, **options):
        try:
            dispute = sandbox_dispute_close(dispute_id=dispute_id, won=outcome == "won")
        except SandboxDispute.DoesNotExist:
            raise CommandError(f"No sandbox dispute {dispute_id}") from None
        sandbox_disputes_deliver()
        self.stdout.write(f"{dispute.id}: {dispute.status}")
