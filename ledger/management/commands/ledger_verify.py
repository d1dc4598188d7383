from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import ledger_counts, ledger_problems, trial_balance

from ._common import merchant_option, mode_name, mode_options


class Command(BaseCommand):
    help = (
        "Check the books: every entry balances on its own merchant's and mode's accounts, the trial balance of "
        "each merchant, mode and currency is zero, no payment is refunded beyond its captures. Exits 1 on any problem."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", help="only this merchant (mer_...)")
        mode_options(parser)

    def handle(self, *args, **options):
        merchant_id = merchant_option(options["merchant"])
        livemode = options["livemode"]
        problems = ledger_problems(merchant_id=merchant_id, livemode=livemode)
        if problems:
            for problem in problems:
                self.stdout.write(f"{problem.code}\t{problem.subject}\t{problem.detail}")
            raise CommandError(f"Ledger verification failed: {len(problems)} problem(s).")
        counts = ledger_counts(merchant_id=merchant_id, livemode=livemode)
        books = len(trial_balance(merchant_id=merchant_id, livemode=livemode))
        scope = f"merchant {merchant_id}" if merchant_id else "all merchants"
        scope += ", both modes" if livemode is None else f", {mode_name(livemode)} mode"
        self.stdout.write(
            f"Ledger OK ({scope}): {counts['entries']} entries, {counts['lines']} lines, "
            f"{books} merchant/mode/currency book(s) with a zero trial balance."
        )
