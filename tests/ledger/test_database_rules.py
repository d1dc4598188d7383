"""The database itself keeps the books append-only and balanced, whatever code talks to it."""

import os
import sqlite3
import subprocess
import sys
from importlib import import_module

import pytest
from django.db import IntegrityError, connection, transaction

from gateway.ids import new_id
from ledger.models import AccountCode, JournalEntry, JournalLine, LedgerAccount
from ledger.services import ledger_post_capture
from tests.conftest import REPO_ROOT

from .factories import CapturePostingFactory, RefundPostingFactory
from .helpers import commit_time_checks, open_accounts, write_entry_directly

pytestmark = pytest.mark.django_db

triggers = import_module("ledger.migrations.0002_append_only_and_balance_triggers")


def table_snapshot() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id, e.amount, e.currency, l.account_id, l.debit, l.credit FROM ledger_journal_entry e "
            "JOIN ledger_journal_line l ON l.entry_id = e.id ORDER BY l.id"
        )
        return cursor.fetchall()


class TestAppendOnly:
    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE ledger_journal_entry SET amount = amount + 1",
            "UPDATE ledger_journal_entry SET description = 'edited'",
            "DELETE FROM ledger_journal_entry",
            "UPDATE ledger_journal_line SET debit = debit * 2, credit = credit * 2",
            "DELETE FROM ledger_journal_line",
            "UPDATE ledger_account SET currency = 'EUR'",
            "DELETE FROM ledger_account WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_journal_line l WHERE l.account_id = ledger_account.id)",
        ],
    )
    def test_raw_sql_update_and_delete_are_rejected(self, merchant, sql):
        RefundPostingFactory(capture=CapturePostingFactory(merchant_id=merchant.id), amount=100)
        LedgerAccount.objects.create(merchant=merchant, code="merchant_balance", type="liability", currency="JPY")
        before = table_snapshot()

        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)

        assert table_snapshot() == before
        assert LedgerAccount.objects.count() == 3

    def test_orm_queryset_update_is_rejected(self, merchant):
        entry = CapturePostingFactory(merchant_id=merchant.id, amount=1000)

        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            JournalEntry.objects.filter(id=entry.id).update(amount=1)
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            JournalLine.objects.filter(entry=entry).update(debit=0, credit=0)

        entry.refresh_from_db()
        assert entry.amount == 1000
        assert sorted(JournalLine.objects.values_list("debit", "credit")) == [(0, 1000), (1000, 0)]

    def test_orm_queryset_and_instance_delete_are_rejected(self, merchant):
        entry = CapturePostingFactory(merchant_id=merchant.id)

        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            JournalLine.objects.filter(entry=entry).delete()
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            entry.lines.first().delete()

        assert JournalLine.objects.filter(entry=entry).count() == 2

    def test_orm_save_of_a_changed_entry_is_rejected(self, merchant):
        entry = CapturePostingFactory(merchant_id=merchant.id, amount=1000)
        entry.amount = 5

        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            entry.save()

        assert JournalEntry.objects.get(id=entry.id).amount == 1000

    def test_an_unused_account_cannot_be_deleted_either(self, merchant):
        account = LedgerAccount.objects.create(
            merchant=merchant, code="merchant_balance", type="liability", currency="USD"
        )

        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            account.delete()

        assert LedgerAccount.objects.filter(id=account.id).exists()


class TestBalancedAtCommit:
    """PostgreSQL checks each new entry at COMMIT (a deferred constraint trigger)."""

    def test_a_balanced_entry_written_directly_passes(self, merchant):
        accounts = open_accounts(merchant.id, "USD")
        with commit_time_checks():
            write_entry_directly(
                merchant_id=merchant.id,
                payment_id="pay_1",
                kind="capture",
                amount=500,
                currency="USD",
                lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 500)],
            )
        assert JournalEntry.objects.count() == 1

    @pytest.mark.parametrize(
        ("amount", "lines", "why"),
        [
            (500, [("processor_receivable", 500, 0), ("merchant_balance", 0, 499)], "debits 500, credits 499"),
            (500, [("processor_receivable", 400, 0), ("merchant_balance", 0, 400)], "amount 500"),
            (500, [("processor_receivable", 500, 0)], "1 line"),
            (500, [], "0 line"),
        ],
    )
    def test_an_unbalanced_entry_is_rejected(self, merchant, amount, lines, why):
        accounts = open_accounts(merchant.id, "USD")

        with pytest.raises(IntegrityError, match=f"not balanced.*{why}"), commit_time_checks():
            write_entry_directly(
                merchant_id=merchant.id,
                payment_id="pay_1",
                kind="capture",
                amount=amount,
                currency="USD",
                lines=[(accounts[code], debit, credit) for code, debit, credit in lines],
            )

        assert JournalEntry.objects.count() == 0
        assert JournalLine.objects.count() == 0

    def test_a_line_added_later_to_a_posted_entry_is_rejected(self, merchant):
        entry = CapturePostingFactory(merchant_id=merchant.id, amount=500)
        receivable = LedgerAccount.objects.get(merchant=merchant, code=AccountCode.PROCESSOR_RECEIVABLE)

        with pytest.raises(IntegrityError, match="not balanced"), commit_time_checks():
            JournalLine.objects.create(merchant_id=merchant.id, entry=entry, account=receivable, debit=100)

        assert entry.lines.count() == 2

    @pytest.mark.parametrize("foreign", ["other_merchant", "other_currency", "other_mode"])
    def test_a_line_on_another_books_account_is_rejected(self, merchant, other_merchant, foreign):
        mine = open_accounts(merchant.id, "USD")
        elsewhere = {
            "other_merchant": lambda: open_accounts(other_merchant.id, "USD"),
            "other_currency": lambda: open_accounts(merchant.id, "EUR"),
            # test money (the entry) may not land on a live account: one mode per entry
            "other_mode": lambda: open_accounts(merchant.id, "USD", livemode=True),
        }[foreign]()

        with pytest.raises(IntegrityError, match="1 foreign line"), commit_time_checks():
            write_entry_directly(
                merchant_id=merchant.id,
                payment_id="pay_1",
                kind="capture",
                amount=500,
                currency="USD",
                lines=[(mine["processor_receivable"], 500, 0), (elsewhere["merchant_balance"], 0, 500)],
            )

        assert JournalEntry.objects.count() == 0

    def test_a_line_filed_under_another_merchant_is_rejected(self, merchant, other_merchant):
        # the accounts are the entry's own, but the line names another merchant (its shard key)
        mine = open_accounts(merchant.id, "USD")

        with pytest.raises(IntegrityError, match="2 foreign line"), commit_time_checks():
            write_entry_directly(
                merchant_id=merchant.id,
                payment_id="pay_1",
                kind="capture",
                amount=500,
                currency="USD",
                lines=[(mine["processor_receivable"], 500, 0), (mine["merchant_balance"], 0, 500)],
                line_merchant_id=other_merchant.id,
            )

        assert JournalEntry.objects.count() == 0

    @pytest.mark.parametrize(("debit", "credit"), [(0, 0), (100, 100), (-100, 0), (0, -5)])
    def test_a_line_has_exactly_one_positive_side(self, merchant, debit, credit):
        entry = CapturePostingFactory(merchant_id=merchant.id)
        account = entry.lines.first().account

        with pytest.raises(IntegrityError, match="ledger_line_"), transaction.atomic():
            JournalLine.objects.create(
                merchant_id=merchant.id, entry=entry, account=account, debit=debit, credit=credit
            )

    def test_an_entry_amount_is_positive(self, merchant):
        with pytest.raises(IntegrityError, match="ledger_entry_amount_positive"), transaction.atomic():
            JournalEntry.objects.create(
                merchant=merchant, kind="capture", currency="USD", amount=0, payment_id="p", operation_ref="p"
            )

    def test_a_refund_entry_names_its_refund(self, merchant):
        with pytest.raises(IntegrityError, match="ledger_entry_refund_reference"), transaction.atomic():
            JournalEntry.objects.create(
                merchant=merchant, kind="refund", currency="USD", amount=5, payment_id="p", operation_ref="x"
            )

    def test_one_operation_posts_at_most_one_entry(self, merchant):
        entry = CapturePostingFactory(merchant_id=merchant.id)
        with pytest.raises(IntegrityError, match="ledger_entry_unique_operation_mode"), transaction.atomic():
            JournalEntry.objects.create(
                merchant=merchant,
                kind="capture",
                currency="USD",
                amount=entry.amount,
                payment_id=entry.payment_id,
                operation_ref=entry.operation_ref,
            )


@pytest.mark.django_db(transaction=True)
class TestRealCommits:
    """Real COMMITs, and the TRUNCATE that flushes the tables after each transactional test."""

    def test_balanced_postings_commit(self, merchant):
        payment_id = new_id("pay")
        with transaction.atomic():
            ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=payment_id,
                capture_ref="c",
                amount=5,
                currency="JPY",
            )
        assert JournalEntry.objects.filter(payment_id=payment_id).count() == 1

    def test_an_unbalanced_entry_fails_at_commit_and_leaves_nothing(self, merchant):
        accounts = open_accounts(merchant.id, "USD")

        with pytest.raises(IntegrityError, match="not balanced"), transaction.atomic():
            write_entry_directly(
                merchant_id=merchant.id,
                payment_id="pay_1",
                kind="capture",
                amount=500,
                currency="USD",
                lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 50)],
            )

        assert JournalEntry.objects.count() == 0
        assert JournalLine.objects.count() == 0

    def test_truncate_is_allowed_so_test_flushes_work(self, merchant):
        CapturePostingFactory(merchant_id=merchant.id)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE ledger_journal_line, ledger_journal_entry, ledger_account")
        assert JournalEntry.objects.count() == 0


class TestSqliteVariant:
    """The embedded demo mode runs on SQLite: the same append-only rule with SQLite triggers."""

    def test_sqlite_triggers_reject_update_and_delete(self):
        db = sqlite3.connect(":memory:")
        db.executescript(
            "CREATE TABLE ledger_account (id INTEGER PRIMARY KEY, currency TEXT);"
            "CREATE TABLE ledger_journal_entry (id TEXT PRIMARY KEY, amount INTEGER);"
            "CREATE TABLE ledger_journal_line (id INTEGER PRIMARY KEY, entry_id TEXT, debit INTEGER);"
        )
        for statement in triggers.SQLITE_FORWARD:
            db.execute(statement)
        db.execute("INSERT INTO ledger_account VALUES (1, 'USD')")
        db.execute("INSERT INTO ledger_journal_entry VALUES ('je_1', 100)")
        db.execute("INSERT INTO ledger_journal_line VALUES (1, 'je_1', 100)")

        for sql in [
            "UPDATE ledger_account SET currency = 'EUR'",
            "DELETE FROM ledger_account",
            "UPDATE ledger_journal_entry SET amount = 1",
            "DELETE FROM ledger_journal_entry",
            "UPDATE ledger_journal_line SET debit = 1",
            "DELETE FROM ledger_journal_line",
        ]:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)
        assert db.execute("SELECT amount FROM ledger_journal_entry").fetchall() == [(100,)]
        assert db.execute("SELECT debit FROM ledger_journal_line").fetchall() == [(100,)]

    @pytest.mark.slow
    def test_embedded_mode_migrates_and_enforces_append_only(self, tmp_path):
        # A real `migrate` in the embedded mode, then the ORM against the result.
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
        env.update(
            DJANGO_SETTINGS_MODULE="gateway_project.settings.base",
            SQLITE_PATH=str(tmp_path / "demo.sqlite3"),
            PYTHONPATH=str(REPO_ROOT),
        )
        script = (
            "from django.db import IntegrityError, transaction\n"
            "from merchants.services import merchant_create\n"
            "from ledger.models import JournalEntry\n"
            "from ledger.services import ledger_post_capture\n"
            "m = merchant_create(name='Demo').merchant\n"
            "with transaction.atomic():\n"
            "    e = ledger_post_capture(merchant_id=m.id, livemode=False, payment_id='pay_1', capture_ref='c',"
            " amount=5, currency='KWD')\n"
            "for attempt in (lambda: JournalEntry.objects.update(amount=1), lambda: e.lines.all().delete()):\n"
            "    try:\n"
            "        with transaction.atomic():\n"
            "            attempt()\n"
            "    except IntegrityError as exc:\n"
            "        print('rejected:', exc)\n"
            "print('amount:', JournalEntry.objects.get().amount, 'lines:', e.lines.count())\n"
        )
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True, timeout=60)
        result = subprocess.run(
            [*manage, "shell", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.count("rejected: ledger is append-only") == 2, result.stdout
        assert "amount: 5 lines: 2" in result.stdout
