import json
import os
import sys

from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from gateway.errors import ApiError
from merchants.selectors import merchant_exists
from processors.services import processor_account_create


class Command(AuditedCommand):
    help = (
        "Create a processor account for a merchant. Credentials are a JSON object read from stdin "
        "(default) or from the environment variable named by --credentials-env; never pass them as an "
        "argument (shell history, process list). They are stored encrypted and never printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="Merchant id (mer_...).")
        parser.add_argument("--processor", required=True, choices=["stripe", "paypal", "sandbox"])
        parser.add_argument("--name", required=True, help="Display name.")
        parser.add_argument("--live", action="store_true", help="Live mode account.")
        parser.add_argument("--base-url", default="", help="API base URL (default: the processor's public API).")
        parser.add_argument("--connect-timeout", type=float, default=None)
        parser.add_argument("--read-timeout", type=float, default=None)
        parser.add_argument("--webhook-id", default="", help="PayPal webhook id (for signature verification).")
        parser.add_argument("--breaker-fail-max", type=int, default=None)
        parser.add_argument("--breaker-reset-timeout", type=float, default=None)
        parser.add_argument("--credentials-env", default=None, help="Read the credentials JSON from this env var.")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        if not merchant_exists(merchant_id=options["merchant"]):
            raise CommandError(f"No such merchant: {options['merchant']}")
        credentials = self._credentials(options)
        try:
            account = processor_account_create(
                merchant_id=options["merchant"],
                processor=options["processor"],
                display_name=options["name"],
                credentials=credentials,
                livemode=options["live"],
                base_url=options["base_url"],
                connect_timeout=options["connect_timeout"],
                read_timeout=options["read_timeout"],
                webhook_id=options["webhook_id"],
                breaker_fail_max=options["breaker_fail_max"],
                breaker_reset_timeout=options["breaker_reset_timeout"],
            )
        except ApiError as exc:
            raise CommandError(exc.message) from None
        if options["as_json"]:
            self.stdout.write(json.dumps({"id": account.id, "processor": account.processor}))
        else:
            self.stdout.write(f"Processor account: {account.id} ({account.processor}, {account.display_name})")
            self.stdout.write(f"Webhook URL path:  /v1/webhooks/processors/{account.id}")

    def _credentials(self, options) -> dict:
        if options["processor"] == "sandbox":
            return {}
        env_name = options["credentials_env"]
        raw = os.environ.get(env_name, "") if env_name else sys.stdin.read()
        try:
            value = json.loads(raw)
        except ValueError:
            raise CommandError("Credentials must be a JSON object.") from None
        if not isinstance(value, dict):
            raise CommandError("Credentials must be a JSON object.")
        return value
