from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from gateway.errors import ApiError
from processors.services import processor_route_set


class Command(AuditedCommand):
    help = "Set a merchant's ordered route for a payment method (and optionally one currency)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True)
        parser.add_argument("--method", required=True, choices=["card", "paypal"])
        parser.add_argument("--currency", default="", help="Only for this currency (default: any).")
        parser.add_argument("--accounts", required=True, help="Comma-separated account ids, first tried first.")

    def handle(self, *args, merchant, method, currency, accounts, **options):
        ids = [a.strip() for a in accounts.split(",") if a.strip()]
        try:
            routes = processor_route_set(
                merchant_id=merchant, payment_method_type=method, currency=currency, account_ids=ids
            )
        except ApiError as exc:
            raise CommandError(exc.message) from None
        for route in routes:
            self.stdout.write(str(route))
