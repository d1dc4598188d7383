import json

from audit.commands import AuditedCommand
from merchants.services import merchant_create


class Command(AuditedCommand):
    help = "Create a merchant with a secret and a publishable API key; the keys are printed once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--live", action="store_true", help="Create live-mode keys (sk_live_/pk_live_).")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, name: str, live: bool, as_json: bool, **options):
        created = merchant_create(name=name, livemode=live)
        result = {
            "merchant_id": created.merchant.id,
            "secret_key": created.secret_key.raw_key,
            "publishable_key": created.publishable_key.raw_key,
        }
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"Merchant:        {result['merchant_id']} ({name})")
        self.stdout.write(f"Secret key:      {result['secret_key']}")
        self.stdout.write(f"Publishable key: {result['publishable_key']}")
        self.stdout.write("Keys are shown only now; store them safely.")
