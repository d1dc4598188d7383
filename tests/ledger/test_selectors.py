import pytest

from gateway.ids import new_id
from ledger.models import AccountCode
from ledger.selectors import (
    AccountBalance,
    LedgerIntegrityError,
    LedgerProblem,
    account_balances,
    entries_with_foreign_accounts,
    journal_entries_for_payment,
    ledger_problems,
    ledger_report,
    payment_ledger_mismatches,
    payment_ledger_net,
    payment_ledger_totals,
    trial_balance,
    unbalanced_entries,
)

from .factories import CapturePostingFactory, RefundPostingFactory
from .helpers import open_accounts, write_entry_directly

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(merchant, other_merchant):
    """Acme: a USD payment captured 10.50 and refunded 3.00 + 2.50, a JPY payment of 500 yen and a KWD
    payment of 1.234 dinar refunded in full. Globex: one USD payment of 99.99."""
    usd = CapturePostingFactory(merchant_id=merchant.id, amount=1050, currency="USD")
    RefundPostingFactory(capture=usd, amount=300)
    RefundPostingFactory(capture=usd, amount=250)
    jpy = CapturePostingFactory(merchant_id=merchant.id, amount=500, currency="JPY")
    kwd = CapturePostingFactory(merchant_id=merchant.id, amount=1234, currency="KWD")
    RefundPostingFactory(capture=kwd)
    globex = CapturePostingFactory(merchant_id=other_merchant.id, amount=9999, currency="USD")
    return {"usd": usd.payment_id, "jpy": jpy.payment_id, "kwd": kwd.payment_id, "globex": globex.payment_id}


def test_payment_ledger_net_is_captured_minus_refunded(books, merchant):
    assert payment_ledger_net(payment_id=books["usd"]) == {"USD": 500}
    assert payment_ledger_net(payment_id=books["jpy"]) == {"JPY": 500}
    assert payment_ledger_net(payment_id=books["kwd"]) == {"KWD": 0}
    assert payment_ledger_net(payment_id=new_id("pay")) == {}


def test_payment_ledger_net_scoped_to_a_merchant_hides_other_tenants(books, merchant, other_merchant):
    assert payment_ledger_net(payment_id=books["globex"], merchant_id=other_merchant.id) == {"USD": 9999}
    assert payment_ledger_net(payment_id=books["globex"], merchant_id=merchant.id) == {}


def test_payment_ledger_totals(books, merchant, other_merchant):
    assert payment_ledger_totals() == {
        books["usd"]: ("USD", 1050, 550),
        books["jpy"]: ("JPY", 500, 0),
        books["kwd"]: ("KWD", 1234, 1234),
        books["globex"]: ("USD", 9999, 0),
    }
    assert payment_ledger_totals(merchant_id=other_merchant.id) == {books["globex"]: ("USD", 9999, 0)}
    assert set(payment_ledger_totals(merchant_id=merchant.id)) == {books["usd"], books["jpy"], books["kwd"]}
    only = payment_ledger_totals(payment_ids=[books["usd"]])
    assert only == {books["usd"]: ("USD", 1050, 550)}
    assert only[books["usd"]].refunded == 550


def test_payment_ledger_totals_refuses_a_payment_booked_in_two_currencies(merchant):
    # Only reachable by writing rows behind the posting service's back.
    usd, eur = open_accounts(merchant.id, "USD"), open_accounts(merchant.id, "EUR")
    for currency, accounts in (("USD", usd), ("EUR", eur)):
        write_entry_directly(
            merchant_id=merchant.id,
            payment_id="pay_x",
            kind="capture",
            amount=5,
            currency=currency,
            ref=f"c_{currency}",
            lines=[(accounts["processor_receivable"], 5, 0), (accounts["merchant_balance"], 0, 5)],
        )

    with pytest.raises(LedgerIntegrityError, match="pay_x"):
        payment_ledger_totals()
    assert payment_ledger_net(payment_id="pay_x") == {"USD": 5, "EUR": 5}
    assert LedgerProblem("payment_mixed_currencies", "pay_x", "entries in several currencies") in ledger_problems()


def test_sound_books_have_no_problems_and_a_zero_trial_balance(books, merchant, other_merchant):
    assert unbalanced_entries() == []
    assert entries_with_foreign_accounts() == []
    assert ledger_problems() == []
    assert [(r.merchant_id, r.currency, r.difference) for r in trial_balance()] == sorted(
        [(merchant.id, "JPY", 0), (merchant.id, "KWD", 0), (merchant.id, "USD", 0), (other_merchant.id, "USD", 0)]
    )
    acme_usd = next(r for r in trial_balance(merchant_id=merchant.id) if r.currency == "USD")
    assert (acme_usd.debits, acme_usd.credits) == (1050 + 550, 1050 + 550)


def test_account_balances_for_finance(books, merchant):
    assert account_balances(merchant_id=merchant.id, currency="usd") == [
        AccountBalance("processor_receivable", "asset", "USD", debits=1050, credits=550, balance=500),
        AccountBalance("merchant_balance", "liability", "USD", debits=550, credits=1050, balance=500),
    ]
    assert [(b.currency, b.code, b.balance) for b in account_balances(merchant_id=merchant.id)] == [
        ("JPY", "processor_receivable", 500),
        ("JPY", "merchant_balance", 500),
        ("KWD", "processor_receivable", 0),
        ("KWD", "merchant_balance", 0),
        ("USD", "processor_receivable", 500),
        ("USD", "merchant_balance", 500),
    ]


def test_ledger_report_per_merchant_and_currency(books, merchant, other_merchant):
    rows = {(r.merchant_id, r.currency): r for r in ledger_report()}

    assert set(rows) == {(merchant.id, "USD"), (merchant.id, "JPY"), (merchant.id, "KWD"), (other_merchant.id, "USD")}
    usd = rows[(merchant.id, "USD")]
    assert (usd.captured, usd.refunded, usd.net, usd.capture_entries, usd.refund_entries, usd.entries) == (
        1050,
        550,
        500,
        1,
        2,
        3,
    )
    kwd = rows[(merchant.id, "KWD")]
    assert (kwd.captured, kwd.refunded, kwd.net) == (1234, 1234, 0)
    assert [(r.merchant_id, r.net) for r in ledger_report(merchant_id=other_merchant.id)] == [(other_merchant.id, 9999)]


def test_journal_entries_for_payment_oldest_first_with_lines(books, merchant, other_merchant):
    entries = journal_entries_for_payment(payment_id=books["usd"])

    assert [(e.kind, e.amount) for e in entries] == [("capture", 1050), ("refund", 300), ("refund", 250)]
    assert {line.account.code for line in entries[0].lines.all()} == {
        AccountCode.PROCESSOR_RECEIVABLE,
        AccountCode.MERCHANT_BALANCE,
    }
    assert journal_entries_for_payment(payment_id=books["usd"], merchant_id=other_merchant.id) == []


class TestDamagedBooks:
    """What ledger_verify reports when rows were written behind the database's balance check."""

    def test_unbalanced_entries_are_listed(self, merchant, balance_trigger_disabled):
        sound = CapturePostingFactory(merchant_id=merchant.id)
        accounts = open_accounts(merchant.id, "USD")
        short = write_entry_directly(
            merchant_id=merchant.id,
            payment_id="pay_a",
            kind="capture",
            amount=500,
            currency="USD",
            lines=[(accounts["processor_receivable"], 500, 0), (accounts["merchant_balance"], 0, 499)],
        )
        bare = write_entry_directly(
            merchant_id=merchant.id, payment_id="pay_b", kind="capture", amount=500, currency="USD", lines=[]
        )

        assert unbalanced_entries() == sorted([short.id, bare.id])
        assert sound.id not in unbalanced_entries()
        problems = ledger_problems()
        assert {(p.code, p.subject) for p in problems} == {
            ("entry_unbalanced", short.id),
            ("entry_unbalanced", bare.id),
            ("trial_balance_nonzero", f"{merchant.id} test USD"),
        }

    def test_lines_on_another_merchants_accounts_are_listed(self, merchant, other_merchant, balance_trigger_disabled):
        mine, theirs = open_accounts(merchant.id, "USD"), open_accounts(other_merchant.id, "USD")
        entry = write_entry_directly(
            merchant_id=merchant.id,
            payment_id="pay_a",
            kind="capture",
            amount=500,
            currency="USD",
            lines=[(mine["processor_receivable"], 500, 0), (theirs["merchant_balance"], 0, 500)],
        )

        assert entries_with_foreign_accounts() == [entry.id]
        assert entries_with_foreign_accounts(merchant_id=other_merchant.id) == []
        codes = {(p.code, p.subject) for p in ledger_problems()}
        assert ("entry_foreign_account", entry.id) in codes
        assert ("trial_balance_nonzero", f"{merchant.id} test USD") in codes
        assert ("trial_balance_nonzero", f"{other_merchant.id} test USD") in codes

    def test_an_over_refunded_payment_is_listed(self, merchant):
        # Balanced entries pass the database; refunds above captures are the service's rule.
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=100)
        accounts = open_accounts(merchant.id, "USD")
        write_entry_directly(
            merchant_id=merchant.id,
            payment_id=captured.payment_id,
            kind="refund",
            amount=150,
            currency="USD",
            lines=[(accounts["merchant_balance"], 150, 0), (accounts["processor_receivable"], 0, 150)],
        )

        assert ledger_problems() == [
            LedgerProblem("payment_over_refunded", captured.payment_id, "refunded 150 exceeds captured 100")
        ]
        assert payment_ledger_totals() == {captured.payment_id: ("USD", 100, 150)}


def test_payment_ledger_mismatches_compares_another_apps_figures(books, merchant):
    never_captured = new_id("pay")
    expected = {
        books["usd"]: ("USD", 1050, 550),  # agrees
        books["jpy"]: ("JPY", 500, 100),  # the payment says 100 yen were refunded; the books do not
        books["kwd"]: ("USD", 1234, 1234),  # wrong currency
        never_captured: ("USD", 0, 0),  # nothing captured, nothing booked: fine
        "pay_unbooked": ("EUR", 300, 0),  # captured but never posted
    }

    problems = payment_ledger_mismatches(expected=expected, merchant_id=merchant.id)

    assert [(p.code, p.subject) for p in problems] == sorted(
        [
            ("payment_ledger_mismatch", books["jpy"]),
            ("payment_ledger_mismatch", books["kwd"]),
            ("payment_ledger_mismatch", "pay_unbooked"),
        ],
        key=lambda pair: pair[1],
    )
    by_payment = {p.subject: p.detail for p in problems}
    assert by_payment[books["jpy"]] == "captured/refunded: payment says JPY 500/100, ledger says JPY 500/0"
    assert by_payment["pay_unbooked"] == "captured/refunded: payment says EUR 300/0, ledger says nothing"
    assert payment_ledger_mismatches(expected={books["globex"]: ("USD", 9999, 0)}, merchant_id=merchant.id) == [
        LedgerProblem(
            "payment_ledger_mismatch",
            books["globex"],
            "captured/refunded: payment says USD 9999/0, ledger says nothing",
        )
    ]
