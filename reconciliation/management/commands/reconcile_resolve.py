import getpass
import json

from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from gateway.errors import ApiError
from reconciliation.selectors import item_data
from reconciliation.services import item_resolve


class Command(AuditedCommand):
    # One audit entry in the resolution's transaction (a refused resolution leaves none).
    help = (
        "Resolve a reconciliation item (rci_...) with the reason: what was found and done. The resolution "
        "(who, when, why) is kept with the item and never deleted; a resolved item cannot be resolved again."
    )

    def add_arguments(self, parser):
        parser.add_argument("item", help="the item id (rci_...)")
        parser.add_argument("--reason", required=True, help="what the operator found and did")
        parser.add_argument("--actor", help="who resolves it (default: the OS user running the command)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        actor = options["actor"] or getpass.getuser()
        try:
            item = item_resolve(item_id=options["item"], reason=options["reason"], actor=actor)
        except ApiError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(item_data(item), indent=2))
        else:
            self.stdout.write(
                f"Resolved {item.id} ({item.classification}) by {item.resolved_by}: {item.resolution_reason}"
            )
