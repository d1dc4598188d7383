import pytest
from django.db import transaction

from gateway.errors import InvalidRequest
from gateway.ids import new_id
from ledger.models import AccountCode, EntryKind, JournalEntry, JournalLine, LedgerAccount
from ledger.selectors import ledger_problems
from ledger.services import LedgerPostingError, ledger_post_capture, ledger_post_refund

from .factories import CapturePostingFactory, RefundPostingFactory

pytestmark = pytest.mark.django_db


def lines_by_account(entry: JournalEntry) -> dict[str, tuple[int, int]]:
    return {line.account.code: (line.debit, line.credit) for line in entry.lines.select_related("account")}


def capture(merchant_id: str, payment_id: str, amount: int, currency: str = "USD", ref: str | None = None):
    with transaction.atomic():
        return ledger_post_capture(
            merchant_id=merchant_id,
            livemode=False,
            payment_id=payment_id,
            capture_ref=payment_id if ref is None else ref,
            amount=amount,
            currency=currency,
        )


def refund(merchant_id: str, payment_id: str, refund_id: str, amount: int, currency: str = "USD"):
    with transaction.atomic():
        return ledger_post_refund(
            merchant_id=merchant_id,
            livemode=False,
            payment_id=payment_id,
            refund_id=refund_id,
            amount=amount,
            currency=currency,
        )


class TestCapture:
    def test_posts_one_balanced_entry_debiting_receivable_and_crediting_the_merchant(self, merchant):
        # given a captured payment of 10.50 USD
        payment_id = new_id("pay")

        # when the capture is posted
        entry = capture(merchant.id, payment_id, 1050)

        # then one entry with two lines of the same amount on the two sides
        entry.refresh_from_db()
        assert entry.id.startswith("je_")
        assert (entry.kind, entry.amount, entry.currency, entry.payment_id) == ("capture", 1050, "USD", payment_id)
        assert entry.refund_id == ""
        assert lines_by_account(entry) == {
            AccountCode.PROCESSOR_RECEIVABLE: (1050, 0),
            AccountCode.MERCHANT_BALANCE: (0, 1050),
        }
        assert JournalEntry.objects.count() == 1
        assert JournalLine.objects.count() == 2
        assert ledger_problems() == []

    def test_opens_the_merchants_accounts_once_per_currency(self, merchant):
        capture(merchant.id, new_id("pay"), 500, "JPY")
        capture(merchant.id, new_id("pay"), 700, "JPY")
        capture(merchant.id, new_id("pay"), 1234, "KWD")

        accounts = set(LedgerAccount.objects.values_list("merchant_id", "code", "type", "currency"))
        assert accounts == {
            (merchant.id, "processor_receivable", "asset", "JPY"),
            (merchant.id, "merchant_balance", "liability", "JPY"),
            (merchant.id, "processor_receivable", "asset", "KWD"),
            (merchant.id, "merchant_balance", "liability", "KWD"),
        }

    def test_each_merchant_posts_to_its_own_accounts(self, merchant, other_merchant):
        mine = capture(merchant.id, new_id("pay"), 100)
        theirs = capture(other_merchant.id, new_id("pay"), 200)

        assert {line.account.merchant_id for line in mine.lines.select_related("account")} == {merchant.id}
        assert {line.account.merchant_id for line in theirs.lines.select_related("account")} == {other_merchant.id}
        assert LedgerAccount.objects.filter(merchant=merchant).count() == 2
        assert LedgerAccount.objects.filter(merchant=other_merchant).count() == 2

    def test_currency_is_normalised_to_upper_case(self, merchant):
        entry = capture(merchant.id, new_id("pay"), 100, "eur")
        assert entry.currency == "EUR"
        assert set(LedgerAccount.objects.values_list("currency", flat=True)) == {"EUR"}

    def test_several_captures_of_one_payment_with_distinct_refs_each_post(self, merchant):
        payment_id = new_id("pay")
        first = capture(merchant.id, payment_id, 300, ref="att_1")
        second = capture(merchant.id, payment_id, 200, ref="att_2")
        assert first.id != second.id
        assert JournalEntry.objects.filter(payment_id=payment_id).count() == 2

    def test_steady_state_capture_costs_two_queries(self, merchant, django_assert_max_num_queries):
        capture(merchant.id, new_id("pay"), 100)  # opens the accounts
        with transaction.atomic(), django_assert_max_num_queries(2):
            # accounts (cached after commit in production), entry and lines in one statement
            ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=new_id("pay"),
                capture_ref="c",
                amount=100,
                currency="USD",
            )


class TestIdempotency:
    def test_posting_the_same_capture_twice_returns_the_first_entry(self, merchant, django_assert_max_num_queries):
        payment_id = new_id("pay")
        first = capture(merchant.id, payment_id, 1000)

        # accounts (cached after commit in production), the insert that inserts nothing (the unique
        # constraint), then the full path: advisory lock, history. A repeat is the rare path.
        with transaction.atomic(), django_assert_max_num_queries(4):
            again = ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=payment_id,
                capture_ref=payment_id,
                amount=1000,
                currency="USD",
            )

        assert again.id == first.id
        assert JournalEntry.objects.count() == 1
        assert JournalLine.objects.count() == 2

    def test_posting_the_same_refund_twice_returns_the_first_entry(self, merchant):
        first = RefundPostingFactory(capture=CapturePostingFactory(merchant_id=merchant.id), amount=400)

        again = refund(merchant.id, first.payment_id, first.refund_id, 400)

        assert again.id == first.id
        assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1

    @pytest.mark.parametrize(("amount", "currency"), [(999, "USD"), (1000, "EUR")])
    def test_the_same_capture_with_other_figures_is_refused(self, merchant, amount, currency):
        payment_id = new_id("pay")
        capture(merchant.id, payment_id, 1000)

        with pytest.raises(LedgerPostingError, match="already posted"):
            capture(merchant.id, payment_id, amount, currency)

        assert JournalEntry.objects.count() == 1

    def test_the_same_refund_with_another_amount_is_refused(self, merchant):
        first = RefundPostingFactory(capture=CapturePostingFactory(merchant_id=merchant.id), amount=400)

        with pytest.raises(LedgerPostingError, match="already posted"):
            refund(merchant.id, first.payment_id, first.refund_id, 300)

        assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1


class TestRefund:
    def test_reverses_the_capture_sides(self, merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000)

        entry = refund(merchant.id, captured.payment_id, "re_1", 250)

        entry.refresh_from_db()
        assert (entry.kind, entry.amount, entry.refund_id, entry.operation_ref) == ("refund", 250, "re_1", "re_1")
        assert lines_by_account(entry) == {
            AccountCode.MERCHANT_BALANCE: (250, 0),
            AccountCode.PROCESSOR_RECEIVABLE: (0, 250),
        }
        assert ledger_problems() == []

    def test_partial_refunds_up_to_the_captured_amount_post(self, merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000)

        for n, amount in enumerate([300, 300, 400]):
            refund(merchant.id, captured.payment_id, f"re_{n}", amount)

        assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 3

    def test_refund_beyond_what_was_captured_is_refused_and_writes_nothing(self, merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000)
        refund(merchant.id, captured.payment_id, "re_1", 700)

        with pytest.raises(LedgerPostingError, match=r"exceeds .* \(300 USD\)"):
            refund(merchant.id, captured.payment_id, "re_2", 301)

        assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
        assert JournalLine.objects.count() == 4

    def test_refund_of_a_payment_with_no_capture_is_refused(self, merchant):
        with pytest.raises(LedgerPostingError, match="exceeds"):
            refund(merchant.id, new_id("pay"), "re_1", 1)
        assert JournalEntry.objects.count() == 0

    def test_refund_in_another_currency_than_the_capture_is_refused(self, merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000, currency="USD")

        with pytest.raises(LedgerPostingError, match="booked in USD, not EUR"):
            refund(merchant.id, captured.payment_id, "re_1", 100, "EUR")

        assert JournalEntry.objects.count() == 1

    def test_refund_under_another_merchant_is_refused(self, merchant, other_merchant):
        captured = CapturePostingFactory(merchant_id=merchant.id, amount=1000)

        with pytest.raises(LedgerPostingError, match="another merchant"):
            refund(other_merchant.id, captured.payment_id, "re_1", 100)

        assert JournalEntry.objects.count() == 1
        assert not LedgerAccount.objects.filter(merchant=other_merchant).exists()


class TestValidation:
    @pytest.mark.parametrize("amount", [0, -1, 10.5, True, "100", None, 10**12])
    def test_amount_must_be_a_positive_integer_in_range(self, merchant, amount):
        with pytest.raises(InvalidRequest) as excinfo:
            capture(merchant.id, new_id("pay"), amount)
        assert excinfo.value.param == "amount"
        assert JournalEntry.objects.count() == 0

    @pytest.mark.parametrize("currency", ["XXX", "US", "", None])
    def test_currency_must_be_iso_4217(self, merchant, currency):
        with pytest.raises(InvalidRequest) as excinfo:
            capture(merchant.id, new_id("pay"), 100, currency)
        assert excinfo.value.param == "currency"

    @pytest.mark.parametrize("payment_id", ["", None, "p" * 41])
    def test_payment_id_must_be_a_short_non_empty_string(self, merchant, payment_id):
        with pytest.raises(InvalidRequest) as excinfo, transaction.atomic():
            ledger_post_capture(
                merchant_id=merchant.id,
                livemode=False,
                payment_id=payment_id,
                capture_ref="c",
                amount=100,
                currency="USD",
            )
        assert excinfo.value.param == "payment_id"

    def test_unknown_merchant_is_refused_and_opens_no_account(self, db):
        with pytest.raises(LedgerPostingError, match="No such merchant"):
            capture("mer_doesnotexist", new_id("pay"), 100)
        assert LedgerAccount.objects.count() == 0
        assert JournalEntry.objects.count() == 0

    def test_arguments_are_keyword_only(self, merchant):
        with pytest.raises(TypeError), transaction.atomic():
            ledger_post_capture(merchant.id, "pay_1", "c", 100, "USD")  # type: ignore[misc]


@pytest.mark.django_db(transaction=True)
def test_posting_outside_a_transaction_is_refused(merchant):
    # Autocommit: a posting must commit with the business change it records, never on its own.
    with pytest.raises(RuntimeError, match=r"inside the transaction\.atomic"):
        ledger_post_capture(
            merchant_id=merchant.id, livemode=False, payment_id="pay_1", capture_ref="c", amount=100, currency="USD"
        )
    with pytest.raises(RuntimeError, match=r"inside the transaction\.atomic"):
        ledger_post_refund(
            merchant_id=merchant.id, livemode=False, payment_id="pay_1", refund_id="re_1", amount=100, currency="USD"
        )
    assert JournalEntry.objects.count() == 0


@pytest.mark.parametrize(("param", "value"), [("capture_ref", ""), ("capture_ref", "c" * 65), ("refund_id", "r" * 41)])
def test_operation_references_are_checked_under_their_own_names(merchant, param, value):
    captured = CapturePostingFactory(merchant_id=merchant.id)
    with pytest.raises(InvalidRequest) as excinfo:
        if param == "capture_ref":
            capture(merchant.id, captured.payment_id, 100, ref=value)
        else:
            refund(merchant.id, captured.payment_id, value, 100)
    assert excinfo.value.param == param
    assert JournalEntry.objects.count() == 1
