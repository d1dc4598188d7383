import json
import logging
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ledger.tasks import ledger_verify

from .factories import CapturePostingFactory, RefundPostingFactory
from .helpers import open_accounts, write_entry_directly

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def books(merchant, other_merchant):
    usd = CapturePostingFactory(merchant_id=merchant.id, amount=1050, currency="USD")
    RefundPostingFactory(capture=usd, amount=250)
    CapturePostingFactory(merchant_id=merchant.id, amount=500, currency="JPY")
    kwd = CapturePostingFactory(merchant_id=merchant.id, amount=1234, currency="KWD")
    RefundPostingFactory(capture=kwd, amount=1)
    CapturePostingFactory(merchant_id=other_merchant.id, amount=777, currency="USD")


class TestLedgerReport:
    def test_text_report_shows_amounts_in_each_currencys_own_decimals(self, books, merchant, other_merchant):
        out = run("ledger_report")

        lines = out.splitlines()
        assert lines[0].split() == [
            "merchant",
            "mode",
            "currency",
            "captured",
            "refunded",
            "fees",
            "disputes",
            "net",
            "paid_out",
            "in_transit",
            "at_processor",
            "captures",
            "refunds",
            "entries",
        ]
        rows = {(line.split()[0], line.split()[2]): line.split()[3:] for line in lines[2:]}
        assert {line.split()[1] for line in lines[2:]} == {"test"}
        assert rows == {
            (merchant.id, "JPY"): ["500", "0", "0", "0", "500", "0", "0", "500", "1", "0", "1"],
            (merchant.id, "KWD"): [
                "1.234",
                "0.001",
                "0.000",
                "0.000",
                "1.233",
                "0.000",
                "0.000",
                "1.233",
                "1",
                "1",
                "2",
            ],
            (merchant.id, "USD"): ["10.50", "2.50", "0.00", "0.00", "8.00", "0.00", "0.00", "8.00", "1", "1", "2"],
            (other_merchant.id, "USD"): ["7.77", "0.00", "0.00", "0.00", "7.77", "0.00", "0.00", "7.77", "1", "0", "1"],
        }

    def test_json_report_in_minor_units(self, books, merchant):
        payload = json.loads(run("ledger_report", "--json", "--merchant", merchant.id))

        assert payload["merchant"] == merchant.id
        assert payload["rows"] == [
            {
                "merchant_id": merchant.id,
                "mode": "test",
                "currency": "JPY",
                "exponent": 0,
                "captured": 500,
                "refunded": 0,
                "fees": 0,
                "disputes": 0,
                "net": 500,
                "paid_out": 0,
                "in_transit": 0,
                "at_processor": 500,
                "capture_entries": 1,
                "refund_entries": 0,
                "entries": 1,
            },
            {
                "merchant_id": merchant.id,
                "mode": "test",
                "currency": "KWD",
                "exponent": 3,
                "captured": 1234,
                "refunded": 1,
                "fees": 0,
                "disputes": 0,
                "net": 1233,
                "paid_out": 0,
                "in_transit": 0,
                "at_processor": 1233,
                "capture_entries": 1,
                "refund_entries": 1,
                "entries": 2,
            },
            {
                "merchant_id": merchant.id,
                "mode": "test",
                "currency": "USD",
                "exponent": 2,
                "captured": 1050,
                "refunded": 250,
                "fees": 0,
                "disputes": 0,
                "net": 800,
                "paid_out": 0,
                "in_transit": 0,
                "at_processor": 800,
                "capture_entries": 1,
                "refund_entries": 1,
                "entries": 2,
            },
        ]

    def test_one_merchants_report_shows_nothing_of_another(self, books, merchant, other_merchant):
        out = run("ledger_report", "--merchant", other_merchant.id)

        assert other_merchant.id in out
        assert merchant.id not in out
        assert "7.77" in out
        assert "10.50" not in out

    def test_days_are_inclusive_utc_days(self, merchant):
        # given an entry posted on 15 January 2026 (UTC) and one today
        january = datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC)
        with mock.patch.object(timezone, "now", return_value=january):
            CapturePostingFactory(merchant_id=merchant.id, amount=100)
        CapturePostingFactory(merchant_id=merchant.id, amount=20)
        today = timezone.now().date()

        def net(*args: str) -> list[int]:
            return [row["net"] for row in json.loads(run("ledger_report", "--json", *args))["rows"]]

        assert net("--since", "2026-01-15", "--until", "2026-01-15") == [100]
        assert net("--until", "2026-01-14") == []
        assert net("--since", "2026-01-16") == [20]
        assert net("--since", today.isoformat(), "--until", today.isoformat()) == [20]
        assert net("--since", (today + timedelta(days=1)).isoformat()) == []
        assert net() == [120]

    def test_empty_period_says_so(self, db):
        assert run("ledger_report").strip() == "No ledger entries in this period."

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--since", "15/01/2026"], "--since must be a date"),
            (["--until", "2026-02-30"], "--until must be a date"),
            (["--since", "2026-02-02", "--until", "2026-02-01"], "must not be after"),
            (["--merchant", "mer_nobody"], "No such merchant"),
        ],
    )
    def test_bad_options_are_command_errors(self, db, args, message):
        with pytest.raises(CommandError, match=message):
            run("ledger_report", *args)


class TestLedgerVerify:
    def test_sound_books_pass(self, books):
        out = run("ledger_verify")
        assert "Ledger OK (all merchants, both modes): 6 entries, 12 lines, 4 merchant/mode/currency book(s)" in out

    def test_scoped_to_one_merchant(self, books, other_merchant):
        out = run("ledger_verify", "--merchant", other_merchant.id)
        assert (
            f"Ledger OK (merchant {other_merchant.id}, both modes): 1 entries, 2 lines, 1 merchant/mode/currency" in out
        )

    def test_unbalanced_entry_fails_and_is_printed(self, books, merchant, balance_trigger_disabled):
        accounts = open_accounts(merchant.id, "USD")
        broken = write_entry_directly(
            merchant_id=merchant.id,
            payment_id="pay_broken",
            kind="capture",
            amount=500,
            currency="USD",
            lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 400)],
        )
        out = StringIO()

        with pytest.raises(CommandError, match=r"Ledger verification failed: 2 problem\(s\)"):
            call_command("ledger_verify", stdout=out)

        assert out.getvalue().splitlines() == [
            f"entry_unbalanced\t{broken.id}\tdebits, credits and amount differ, or fewer than 2 lines",
            f"trial_balance_nonzero\t{merchant.id} test USD\tdebits 1800 - credits 1700 = 100",
        ]

    def test_over_refunded_payment_fails(self, books, merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=100)
        accounts = open_accounts(merchant.id, "USD")
        write_entry_directly(
            merchant_id=merchant.id,
            payment_id=captured.payment_id,
            kind="refund",
            amount=101,
            currency="USD",
            lines=[(accounts["merchant_balance"], 101, 0), (accounts["processor_receivable"], 0, 101)],
        )
        out = StringIO()

        with pytest.raises(CommandError):
            call_command("ledger_verify", stdout=out)

        assert f"payment_over_refunded\t{captured.payment_id}\trefunded 101 exceeds captured 100" in out.getvalue()


class TestPeriodicVerify:
    def test_scheduled_in_beat(self):
        assert settings.CELERY_BEAT_SCHEDULE["ledger-verify"]["task"] == "ledger.tasks.ledger_verify"

    def test_logs_nothing_for_sound_books(self, books, caplog):
        with caplog.at_level(logging.ERROR, logger="ledger.verify"):
            assert ledger_verify.apply().get() == 0
        assert caplog.records == []

    def test_logs_each_problem_at_error(self, merchant, caplog):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=100)
        accounts = open_accounts(merchant.id, "USD")
        write_entry_directly(
            merchant_id=merchant.id,
            payment_id=captured.payment_id,
            kind="refund",
            amount=101,
            currency="USD",
            lines=[(accounts["merchant_balance"], 101, 0), (accounts["processor_receivable"], 0, 101)],
        )

        with caplog.at_level(logging.ERROR, logger="ledger.verify"):
            assert ledger_verify.apply().get() == 1

        assert [r.ledger_problem for r in caplog.records] == ["payment_over_refunded"]
        assert captured.payment_id in caplog.records[0].getMessage()
