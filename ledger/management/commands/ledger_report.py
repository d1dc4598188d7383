import json
from datetime import UTC, date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError

from gateway.money import currency_exponent, to_decimal_string
from ledger.selectors import ledger_report

from ._common import merchant_option, mode_name, mode_options


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Per merchant, mode (test or live: separate books, never one row) and currency, from the ledger: "
        "gross captured, refunded, processor fees, disputes, net, "
        "paid out (arrived at the bank), in transit and still at the processor, with entry counts. Dates are "
        "UTC days, both inclusive (the day an entry occurred at the processor, else the day it was posted)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", help="only this merchant (mer_...)")
        parser.add_argument("--since", help="first day included, YYYY-MM-DD (UTC)")
        parser.add_argument("--until", help="last day included, YYYY-MM-DD (UTC)")
        parser.add_argument("--json", action="store_true", help="machine-readable output (minor units)")
        mode_options(parser)

    def handle(self, *args, **options):
        merchant_id = merchant_option(options["merchant"])
        since_day = _day(options["since"], "--since") if options["since"] else None
        until_day = _day(options["until"], "--until") if options["until"] else None
        if since_day and until_day and since_day > until_day:
            raise CommandError("--since must not be after --until")
        rows = ledger_report(
            merchant_id=merchant_id,
            livemode=options["livemode"],
            since=datetime.combine(since_day, time.min, tzinfo=UTC) if since_day else None,
            until=datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=UTC) if until_day else None,
        )

        if options["json"]:
            payload = {
                "merchant": merchant_id,
                "mode": None if options["livemode"] is None else mode_name(options["livemode"]),
                "since": since_day.isoformat() if since_day else None,
                "until": until_day.isoformat() if until_day else None,
                "rows": [
                    {
                        "merchant_id": row.merchant_id,
                        "mode": mode_name(row.livemode),
                        "currency": row.currency,
                        "exponent": currency_exponent(row.currency),
                        "captured": row.captured,
                        "refunded": row.refunded,
                        "fees": row.fees,
                        "disputes": row.disputes,
                        "net": row.net,
                        "paid_out": row.paid_out,
                        "in_transit": row.in_transit,
                        "at_processor": row.at_processor,
                        "capture_entries": row.capture_entries,
                        "refund_entries": row.refund_entries,
                        "entries": row.entries,
                    }
                    for row in rows
                ],
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return

        if not rows:
            self.stdout.write("No ledger entries in this period.")
            return
        money = ("captured", "refunded", "fees", "disputes", "net", "paid_out", "in_transit", "at_processor")
        header = (
            f"{'merchant':<32} {'mode':<4} {'currency':<8} "
            + " ".join(f"{name:>13}" for name in money)
            + f" {'captures':>9} {'refunds':>8} {'entries':>8}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in rows:
            amounts = " ".join(f"{to_decimal_string(getattr(row, name), row.currency):>13}" for name in money)
            self.stdout.write(
                f"{row.merchant_id:<32} {mode_name(row.livemode):<4} {row.currency:<8} {amounts} "
                f"{row.capture_entries:>9} {row.refund_entries:>8} {row.entries:>8}"
            )
