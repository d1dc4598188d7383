"""Migration ``ledger/0005_livemode`` on books written before it (one account per merchant, code and
currency holding both modes' lines): each entry takes the mode of the payment it references, a
payout or an unknown payment stays test mode, and each live entry's lines move to a new live
account of the same merchant, code and currency.

The migration runs for real (``MigrationExecutor``): the ledger goes back to 0004, rows are written
with the historical models, then it goes forward to 0005. Schema changes are not rolled back with
a test's transaction, hence a transactional test; the fixture leaves every app at its latest
migration whatever the outcome, so the tests after it see the usual schema.

It found the migration failing on PostgreSQL whenever live entries existed: moving their lines
left deferred foreign-key checks pending, and PostgreSQL refuses ALTER TABLE on such a table.
"""

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("ledger", "0004_fees_payouts_disputes")
AFTER = ("ledger", "0005_livemode")

pytestmark = pytest.mark.django_db(transaction=True)


def _targets(executor: MigrationExecutor, ledger_node: tuple[str, str]) -> list[tuple[str, str]]:
    # Every other app at its latest migration (payments' table is what the backfill reads).
    return [node for node in executor.loader.graph.leaf_nodes() if node[0] != "ledger"] + [ledger_node]


def _migrate(ledger_node: tuple[str, str]):
    """Migrate the ledger to ``ledger_node``; the historical apps (models) of that state."""
    executor = MigrationExecutor(connection)
    targets = _targets(executor, ledger_node)
    executor.migrate(targets)
    executor.loader.build_graph()  # the applied migrations changed
    return executor.loader.project_state(targets).apps


@pytest.fixture
def ledger_at_0004(transactional_db):
    apps = _migrate(BEFORE)
    yield apps
    # Whatever the test left: a failed migration leaves 0004 and rows that could fail it again, so
    # the books are emptied first (TRUNCATE fires no append-only trigger).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_journal_line, ledger_journal_entry, ledger_account")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    executor.loader.build_graph()
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def test_the_backfill_gives_entries_their_payments_mode_and_live_lines_their_own_accounts(ledger_at_0004):
    apps = ledger_at_0004
    Merchant = apps.get_model("merchants", "Merchant")
    Payment = apps.get_model("payments", "Payment")
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    JournalEntry = apps.get_model("ledger", "JournalEntry")
    JournalLine = apps.get_model("ledger", "JournalLine")
    assert "livemode" not in {f.name for f in JournalEntry._meta.get_fields()}  # the old schema

    # Given books as 0004 kept them: both modes' lines on one set of accounts per merchant and currency
    acme, globex = Merchant.objects.create(name="Acme"), Merchant.objects.create(name="Globex")

    def payment(merchant, *, livemode: bool, currency: str = "USD"):
        return Payment.objects.create(
            merchant=merchant,
            livemode=livemode,
            amount=1000,
            currency=currency,
            status="succeeded",
            amount_authorized=1000,
            amount_received=1000,
        )

    def account(merchant, code: str, kind: str, currency: str = "USD"):
        return LedgerAccount.objects.create(merchant=merchant, code=code, type=kind, currency=currency)

    def entry(merchant, kind: str, payment_id: str, amount: int, lines: list[tuple], currency: str = "USD", ref=""):
        created = JournalEntry.objects.create(
            merchant=merchant,
            kind=kind,
            currency=currency,
            amount=amount,
            payment_id=payment_id,
            refund_id=ref if kind == "refund" else "",
            operation_ref=ref or f"{kind}_{payment_id or 'po_1'}",
        )
        for account_, debit, credit in lines:
            JournalLine.objects.create(merchant=merchant, entry=created, account=account_, debit=debit, credit=credit)
        return created

    live, test = payment(acme, livemode=True), payment(acme, livemode=False)
    live_eur, globex_live = payment(acme, livemode=True, currency="EUR"), payment(globex, livemode=True)
    with transaction.atomic():  # the balance trigger checks each entry at commit
        receivable = account(acme, "processor_receivable", "asset")
        balance = account(acme, "merchant_balance", "liability")
        in_transit = account(acme, "payouts_in_transit", "asset")
        receivable_eur = account(acme, "processor_receivable", "asset", "EUR")
        balance_eur = account(acme, "merchant_balance", "liability", "EUR")
        globex_receivable = account(globex, "processor_receivable", "asset")
        globex_balance = account(globex, "merchant_balance", "liability")

        live_capture = entry(acme, "capture", live.id, 1000, [(receivable, 1000, 0), (balance, 0, 1000)])
        live_refund = entry(
            acme, "refund", live.id, 300, [(balance, 300, 0), (receivable, 0, 300)], ref="re_live"
        )  # same accounts as the capture: one live twin each, not two
        test_capture = entry(acme, "capture", test.id, 1000, [(receivable, 1000, 0), (balance, 0, 1000)])
        payout = entry(acme, "payout", "", 500, [(in_transit, 500, 0), (receivable, 0, 500)])
        unknown = entry(acme, "capture", "pay_gone", 200, [(receivable, 200, 0), (balance, 0, 200)])
        eur_capture = entry(
            acme, "capture", live_eur.id, 1000, [(receivable_eur, 1000, 0), (balance_eur, 0, 1000)], currency="EUR"
        )
        globex_capture = entry(
            globex, "capture", globex_live.id, 1000, [(globex_receivable, 1000, 0), (globex_balance, 0, 1000)]
        )
    old_accounts = {a.pk for a in LedgerAccount.objects.all()}

    # When the ledger migrates to 0005
    apps = _migrate(AFTER)
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    JournalEntry = apps.get_model("ledger", "JournalEntry")

    # Then each entry has its payment's mode; no payment (a payout) or an unknown one: test mode
    modes = dict(JournalEntry.objects.values_list("id", "livemode"))
    assert modes == {
        live_capture.id: True,
        live_refund.id: True,
        eur_capture.id: True,
        globex_capture.id: True,
        test_capture.id: False,
        payout.id: False,
        unknown.id: False,
    }
    # The accounts that were there are test mode; a live twin exists exactly for each account a live
    # entry used (same merchant, code, type and currency), none for the payout-only account
    assert set(LedgerAccount.objects.filter(livemode=False).values_list("pk", flat=True)) == old_accounts
    live_accounts = LedgerAccount.objects.filter(livemode=True)
    assert sorted(live_accounts.values_list("merchant_id", "code", "type", "currency")) == sorted(
        [
            (acme.id, "processor_receivable", "asset", "USD"),
            (acme.id, "merchant_balance", "liability", "USD"),
            (acme.id, "processor_receivable", "asset", "EUR"),
            (acme.id, "merchant_balance", "liability", "EUR"),
            (globex.id, "processor_receivable", "asset", "USD"),
            (globex.id, "merchant_balance", "liability", "USD"),
        ]
    )

    # Every line sits on an account of its entry's mode, merchant and currency, with its amounts kept
    def lines_of(entry_id: str) -> list[tuple]:
        return list(
            JournalEntry.objects.get(pk=entry_id)
            .lines.order_by("id")
            .values_list(
                "account__merchant_id", "account__code", "account__currency", "account__livemode", "debit", "credit"
            )
        )

    assert lines_of(live_capture.id) == [
        (acme.id, "processor_receivable", "USD", True, 1000, 0),
        (acme.id, "merchant_balance", "USD", True, 0, 1000),
    ]
    assert lines_of(live_refund.id) == [
        (acme.id, "merchant_balance", "USD", True, 300, 0),
        (acme.id, "processor_receivable", "USD", True, 0, 300),
    ]
    assert lines_of(eur_capture.id) == [
        (acme.id, "processor_receivable", "EUR", True, 1000, 0),
        (acme.id, "merchant_balance", "EUR", True, 0, 1000),
    ]
    assert lines_of(globex_capture.id) == [
        (globex.id, "processor_receivable", "USD", True, 1000, 0),
        (globex.id, "merchant_balance", "USD", True, 0, 1000),
    ]
    for entry_id, old_lines in (
        (test_capture.id, [(receivable, 1000, 0), (balance, 0, 1000)]),
        (payout.id, [(in_transit, 500, 0), (receivable, 0, 500)]),
        (unknown.id, [(receivable, 200, 0), (balance, 0, 200)]),
    ):  # test-mode entries keep their lines on the accounts they had
        assert list(
            JournalEntry.objects.get(pk=entry_id).lines.order_by("id").values_list("account_id", "debit", "credit")
        ) == [(old.pk, debit, credit) for old, debit, credit in old_lines]
