import json
from datetime import UTC, date, datetime

from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import CommandError

from audit.commands import AuditedCommand
from gateway.errors import ApiError
from gateway.money import to_decimal_string
from merchants.selectors import merchant_get
from processors.base import SettlementUnavailable
from processors.selectors import processor_account_list
from reconciliation.files import settlement_file_read
from reconciliation.models import BLOCKING_CLASSIFICATIONS, Classification, RunSource
from reconciliation.periods import days_period, yesterday
from reconciliation.selectors import item_data, run_blocking_items, run_data, run_items
from reconciliation.services import AccountScope, account_scope, reconcile, settlement_fetch


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None


class Command(AuditedCommand):
    # It reads the processors' reports (never inside a transaction): the entry is committed first.
    audit_mode = "before"
    help = (
        "Reconcile processor accounts against the processors' own records (settlement data) for UTC days: "
        "every charge and refund matched to ours, fees and payouts posted to the books. Exits 1 while an "
        "item missing_in_gateway or amount_mismatch is unresolved."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="a processor account (pra_...)")
        parser.add_argument("--merchant", help="a merchant (mer_...): its sandbox and accounts, or --processor's")
        parser.add_argument("--processor", choices=["sandbox", "stripe", "paypal"], help="with --merchant")
        parser.add_argument("--date", help="one UTC day, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--from", dest="first", help="first UTC day included, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", help="last UTC day included, YYYY-MM-DD")
        parser.add_argument(
            "--file",
            help=(
                "a settlement file instead of the API "
                "(Stripe CSV, PayPal Settlement Report CSV or Transaction Search JSON)"
            ),
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output (minor units)")

    def handle(self, *args, **options):
        start, end = self._period(options)
        scopes = self._scopes(options)
        if options["file"] and len(scopes) != 1:
            raise CommandError("--file is read for one account: give --account, or --merchant and --processor.")
        results = []
        for scope in scopes:
            try:
                if options["file"]:
                    report = settlement_file_read(path=options["file"], processor=scope.processor, start=start, end=end)
                    source = RunSource.FILE
                else:
                    report, source = settlement_fetch(scope=scope, start=start, end=end), RunSource.API
                run = reconcile(
                    scope=scope, start=start, end=end, report=report, source=source, source_name=options["file"] or ""
                )
            except (ApiError, SettlementUnavailable, OSError, NotImplementedError) as error:
                raise CommandError(f"{scope.account_id} ({scope.merchant_id}): {error}") from None
            results.append(run)

        blocking = sum(run_blocking_items(run_id=run.id).count() for run in results)
        if options["json"]:
            payload = [
                {**run_data(run), "items": [item_data(item) for item in run_items(run_id=run.id)]} for run in results
            ]
            self.stdout.write(json.dumps({"runs": payload, "blocking": blocking}, indent=2))
        else:
            for run in results:
                self._table(run)
        if blocking:
            raise CommandError(
                f"{blocking} unresolved item(s) missing_in_gateway or amount_mismatch; "
                "resolve each with manage.py reconcile_resolve ITEM --reason ..."
            )

    def _period(self, options) -> tuple[datetime, datetime]:
        if options["date"] and (options["first"] or options["last"]):
            raise CommandError("Give --date, or --from and --to, not both.")
        if options["date"]:
            first = last = _day(options["date"], "--date")
        elif options["first"] or options["last"]:
            if not (options["first"] and options["last"]):
                raise CommandError("--from and --to go together.")
            first, last = _day(options["first"], "--from"), _day(options["last"], "--to")
            if first > last:
                raise CommandError("--from must not be after --to.")
        else:
            first = last = yesterday(datetime.now(tz=UTC))
        return days_period(first, last)

    def _scopes(self, options) -> list[AccountScope]:
        merchant_id = options["merchant"]
        if merchant_id:
            try:
                merchant_id = merchant_get(merchant_id=merchant_id).id
            except ObjectDoesNotExist:
                raise CommandError(f"No such merchant: {merchant_id}") from None
        try:
            if options["account"]:
                return [account_scope(account_id=options["account"], merchant_id=merchant_id)]
            if not merchant_id:
                raise CommandError("Give --account, or --merchant (with --processor to pick one processor).")
            processor = options["processor"]
            scopes = []
            if processor in (None, "sandbox"):
                scopes.append(account_scope(merchant_id=merchant_id))
            for account in processor_account_list(merchant_id=merchant_id):
                if account.is_active and processor in (None, account.processor):
                    scopes.append(account_scope(account_id=account.id))
            if not scopes:
                raise CommandError(f"Merchant {merchant_id} has no active {processor} account.")
            return scopes
        except ApiError as error:
            raise CommandError(str(error)) from None

    def _table(self, run) -> None:
        period = f"{run.period_start:%Y-%m-%d}" + (
            f" .. {run.period_end:%Y-%m-%d} (exclusive)" if (run.period_end - run.period_start).days > 1 else ""
        )
        self.stdout.write(
            f"Reconciliation {run.id}: {run.processor} account {run.processor_account_id} of {run.merchant_id}, "
            f"{'live' if run.livemode else 'test'} mode, {period} UTC ({run.source}); "
            f"{run.lines} settlement line(s), {run.payouts} payout(s)"
        )
        items = list(run_items(run_id=run.id))
        header = f"  {'classification':<24} {'items':>6} {'unresolved':>10}"
        self.stdout.write(header)
        self.stdout.write("  " + "-" * (len(header) - 2))
        for classification in Classification:
            of_class = [item for item in items if item.classification == classification]
            unresolved = sum(1 for item in of_class if not item.is_resolved)
            if classification == Classification.MATCHED:
                unresolved = 0
            marker = " !" if classification in BLOCKING_CLASSIFICATIONS and unresolved else ""
            self.stdout.write(f"  {classification.value:<24} {len(of_class):>6} {unresolved:>10}{marker}")
        open_items = [i for i in items if i.classification != Classification.MATCHED and not i.is_resolved]
        for item in open_items:
            amount = (
                f"{to_decimal_string(item.processor_amount, item.processor_currency)} {item.processor_currency}"
                if item.processor_amount is not None
                else f"{to_decimal_string(item.gateway_amount or 0, item.gateway_currency)} {item.gateway_currency}"
            )
            subject = item.processor_reference or item.refund_id or item.payment_id
            self.stdout.write(f"  {item.id}  {item.classification:<22} {subject:<28} {amount:>16}  {item.detail}")
