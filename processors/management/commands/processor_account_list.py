import json

from django.core.management.base import BaseCommand

from processors.selectors import account_breaker_state, processor_account_list


class Command(BaseCommand):
    help = "List processor accounts (never their credentials), with routes and breaker state."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", default=None)
        parser.add_argument("--json", dest="as_json", action="store_true")

    def handle(self, *args, merchant, as_json, **options):
        rows = []
        for account in processor_account_list(merchant_id=merchant).prefetch_related("routes"):
            rows.append(
                {
                    "id": account.id,
                    "merchant": account.merchant_id,
                    "processor": account.processor,
                    "name": account.display_name,
                    "livemode": account.livemode,
                    "active": account.is_active,
                    "base_url": account.base_url,
                    "routes": [
                        f"{r.payment_method_type}/{r.currency or '*'}#{r.priority}" for r in account.routes.all()
                    ],
                    "breaker": account_breaker_state(account_id=account.id)["state"],
                }
            )
        if as_json:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']}  {row['merchant']}  {row['processor']:<7} {'live' if row['livemode'] else 'test'}  "
                f"{'active' if row['active'] else 'DISABLED'}  breaker={row['breaker']}  "
                f"routes={','.join(row['routes']) or '-'}  {row['name']}"
            )
