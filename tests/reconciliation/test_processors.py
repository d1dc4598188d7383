"""Stripe and PayPal settlement data, from the fakes (serving hand-made fixtures in the documented
shapes) and from settlement files: matched to our payments and refunds, fees and payouts posted,
the books summing to the cent against the settlement data of the day."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.errors import InvalidRequest
from ledger.models import EntryKind, JournalEntry
from ledger.selectors import ledger_report
from payments.models import AttemptOperation, AttemptStatus, Payment, PaymentAttempt, PaymentStatus, Refund
from processors.base import SettlementUnavailable
from reconciliation.files import settlement_file_read
from reconciliation.models import Classification, ReconciliationItem
from reconciliation.services import account_scope, settlement_fetch
from tests.fakes.paypal import FakePayPal
from tests.fakes.stripe import FakeStripe
from tests.payments.factories import PaymentFactory
from tests.processors.conftest import paypal_account_for, stripe_account_for
from tests.processors.factories import ProcessorAccountFactory

from .conftest import items, run_reconcile

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
SRF = FIXTURES / "STL-20260302.01.009.CSV"
DAY = "2026-03-02"
START, END = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture
def fake_stripe():
    server = FakeStripe().start()
    server.settlement_load(json.loads((FIXTURES / "stripe_2026-03-02.json").read_text()))
    yield server
    server.stop()


def our_payment(merchant, account, *, reference: str, amount: int, currency: str = "USD", attempt: str = ""):
    payment = PaymentFactory(
        merchant=merchant,
        amount=amount,
        currency=currency,
        status=PaymentStatus.SUCCEEDED,
        amount_authorized=amount,
        amount_received=amount,
        processor=account.processor,
        processor_account_id=account.id,
        processor_reference=reference,
    )
    Payment.objects.filter(pk=payment.pk).update(created=datetime(2026, 3, 2, 1, tzinfo=UTC))
    if attempt:
        PaymentAttempt.objects.create(
            id=attempt,
            merchant=merchant,
            payment=payment,
            operation=AttemptOperation.AUTHORIZE,
            origin_status=PaymentStatus.PROCESSING,
            processor=account.processor,
            processor_account_id=account.id,
            processor_reference=reference,
            amount=amount,
            status=AttemptStatus.SUCCEEDED,
        )
    return payment


def our_refund(payment, *, reference: str, amount: int) -> Refund:
    refund = Refund.objects.create(
        merchant_id=payment.merchant_id,
        payment=payment,
        amount=amount,
        currency=payment.currency,
        status="succeeded",
        processor=payment.processor,
        processor_account_id=payment.processor_account_id,
        processor_reference=reference,
        processor_state="succeeded",
    )
    Refund.objects.filter(pk=refund.pk).update(created=datetime(2026, 3, 2, 3, tzinfo=UTC))
    return refund


def our_paypal_sales(merchant, account, *, dollars: str, yen: str) -> tuple[Payment, Payment]:
    """The day's two PayPal sales as our payments, under the processor's ids given: 2000 USD, 1000 JPY."""
    return (
        our_payment(merchant, account, reference=dollars, amount=2000, attempt="att_pp_1"),
        our_payment(merchant, account, reference=yen, amount=1000, currency="JPY", attempt="att_pp_2"),
    )


@pytest.fixture
def paypal_file_account(merchant):
    """A PayPal account whose settlement data comes only from files: no server behind it."""
    return ProcessorAccountFactory(merchant=merchant, processor="paypal", display_name="PayPal")


@pytest.fixture
def stripe_books(merchant, fake_stripe):
    account = stripe_account_for(merchant.id, fake_stripe)
    first = our_payment(merchant, account, reference="pi_1A", amount=2000)
    second = our_payment(merchant, account, reference="pi_1B", amount=5000)
    refund = our_refund(second, reference="re_1C", amount=1500)
    return account, first, second, refund


def classes() -> dict[str, int]:
    found: dict[str, int] = {}
    for classification in ReconciliationItem.objects.values_list("classification", flat=True):
        found[classification] = found.get(classification, 0) + 1
    return found


def test_stripe_balance_transactions_and_payouts_reconcile_a_clean_day(
    merchant, stripe_books, fake_stripe, monkeypatch
):
    account, first, second, _refund = stripe_books
    monkeypatch.setattr("processors.stripe.settlement.PAGE_LIMIT", 2)  # so the report pages

    code, out = run_reconcile("--account", account.id, "--date", DAY)

    assert code == 0, out
    assert classes() == {Classification.MATCHED: 3}
    # Paged with starting_after, by created[gte]/[lt] in unix seconds, with the sources expanded
    pages = fake_stripe.requests_to("/v1/balance_transactions")
    assert len(pages) == 3
    assert pages[0].query["created[gte]"] == "1772409600" and pages[0].query["created[lt]"] == "1772496000"
    assert pages[0].query["expand[0]"] == "data.source" and pages[1].query["starting_after"]
    # Fees on their payments; one payout paid, one in transit
    assert dict(JournalEntry.objects.filter(kind=EntryKind.FEE).values_list("payment_id", "amount")) == {
        first.id: 88,
        second.id: 175,
    }
    report = settlement_fetch(scope=account_scope(account_id=account.id), start=START, end=END)
    [row] = ledger_report(merchant_id=merchant.id, since=START, until=END)
    assert row.fees == sum(line.fee for line in report.lines) == 263
    assert (row.paid_out, row.in_transit) == (3000, 2000)
    assert row.paid_out + row.in_transit == sum(p.amount for p in report.payouts)


def test_stripe_charging_one_payment_twice_is_a_duplicate(merchant, stripe_books, fake_stripe):
    account, first, *_ = stripe_books
    fake_stripe.balance_transactions.append(
        {**fake_stripe.balance_transactions[0], "id": "txn_1Z", "source": "ch_1Z", "created": 1772424000}
    )
    fake_stripe.sources["ch_1Z"] = {**fake_stripe.sources["ch_1A"], "id": "ch_1Z"}

    code, _ = run_reconcile("--account", account.id, "--date", DAY)

    [item] = items(Classification.DUPLICATE)
    assert (item.line_id, item.payment_id) == ("txn_1Z", first.id)
    assert code == 0


def test_a_stripe_partial_capture_is_one_charge_of_the_captured_amount(merchant, stripe_books, fake_stripe):
    # Given the first charge authorized for 2500 and captured for 2000: Stripe lists the full
    # authorization and a partial_capture_reversal of the 500 not captured
    account, first, *_ = stripe_books
    fake_stripe.balance_transactions[0] = {**fake_stripe.balance_transactions[0], "amount": 2500, "net": 2412}
    fake_stripe.balance_transactions.append(
        {
            **fake_stripe.balance_transactions[0],
            "id": "txn_1R",
            "amount": -500,
            "fee": 0,
            "net": -500,
            "reporting_category": "partial_capture_reversal",
            "type": "payment_failure_refund",
            "created": 1772413300,
        }
    )

    code, _ = run_reconcile("--account", account.id, "--date", DAY)

    assert classes() == {Classification.MATCHED: 3} and code == 0
    item = ReconciliationItem.objects.get(payment_id=first.id, kind="charge")
    assert (item.processor_amount, item.processor_fee) == (2000, 88)


def test_the_stripe_fake_refuses_what_stripe_refuses(fake_stripe):
    import requests

    headers = {"Authorization": f"Bearer {fake_stripe.secret_key}"}
    url = f"{fake_stripe.base_url}/v1/balance_transactions"
    assert requests.get(url, params={"created[gte]": "yesterday"}, headers=headers, timeout=5).status_code == 400
    assert requests.get(url, params={"limit": "101"}, headers=headers, timeout=5).status_code == 400
    assert requests.get(url, params={"expand[0]": "data.fee_details"}, headers=headers, timeout=5).status_code == 400
    assert requests.get(url, params={"paid": "true"}, headers=headers, timeout=5).status_code == 400
    by_payout = requests.get(url, params={"payout": "po_1E"}, headers=headers, timeout=5).json()
    assert [t["id"] for t in by_payout["data"]] == ["txn_1C", "txn_1B"]
    assert requests.get(url, params={"payout": "po_nope"}, headers=headers, timeout=5).status_code == 404


def test_a_stripe_report_that_cannot_be_read_whole_reconciles_nothing(merchant, stripe_books, fake_stripe):
    account, *_ = stripe_books
    fake_stripe.secret_key = "sk_test_rotated"  # every page now answers 401
    with pytest.raises(SettlementUnavailable):
        settlement_fetch(scope=account_scope(account_id=account.id), start=START, end=END)
    code, _out = run_reconcile("--account", account.id, "--date", DAY)
    assert code == 1 and not ReconciliationItem.objects.exists()


def test_a_stripe_itemized_payout_reconciliation_csv_is_reconciled(merchant, stripe_books):
    account, _first, _second, _refund = stripe_books
    path = FIXTURES / "stripe_payout_reconciliation_2026-03-02.csv"

    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(path))

    # The refund row listed twice is one matched refund and one duplicate line
    assert classes() == {Classification.MATCHED: 3, Classification.DUPLICATE: 1}
    assert code == 0, out
    report = settlement_file_read(path=str(path), processor="stripe", start=START, end=END)
    assert {p.payout_id: p.amount for p in report.payouts} == {"po_1D": 1912, "po_1E": 3325}
    [row] = ledger_report(merchant_id=merchant.id, since=START, until=END)
    assert row.fees == 263 and row.paid_out == 1912 + 3325


def test_a_paypal_transaction_search_file_is_reconciled(merchant, paypal_file_account):
    account = paypal_file_account
    dollars, yen = our_paypal_sales(merchant, account, dollars="ORDER-1", yen="ORDER-2")
    path = FIXTURES / "paypal_transactions_2026-03-02.json"

    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(path))

    assert code == 0, out
    assert classes() == {Classification.MATCHED: 2, Classification.REFUND_OUTSIDE_GATEWAY: 1}
    [outside] = items(Classification.REFUND_OUTSIDE_GATEWAY)
    assert (outside.payment_id, outside.processor_amount) == (dollars.id, -500)
    fees = dict(JournalEntry.objects.filter(kind=EntryKind.FEE).values_list("payment_id", "amount"))
    assert fees == {dollars.id: 99, yen.id: 75}
    rows = {row.currency: row for row in ledger_report(merchant_id=merchant.id, since=START, until=END)}
    assert rows["USD"].paid_out == 1000 and rows["JPY"].fees == 75


def test_a_file_with_an_inexact_amount_is_refused(tmp_path, merchant, stripe_books):
    account, *_ = stripe_books
    text = (FIXTURES / "stripe_payout_reconciliation_2026-03-02.csv").read_text().replace("20.00,0.88", "20.001,0.881")
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(path))
    assert code == 1 and "not an exact USD amount" in out
    assert not ReconciliationItem.objects.exists() and not JournalEntry.objects.exists()


@pytest.fixture
def fake_paypal():
    server = FakePayPal().start()
    server.transactions = json.loads((FIXTURES / "paypal_transactions_2026-03-02.json").read_text())[
        "transaction_details"
    ]
    yield server
    server.stop()


def test_paypal_transaction_search_through_the_fake_pages_and_matches(merchant, fake_paypal, monkeypatch):
    account = paypal_account_for(merchant.id, fake_paypal)
    dollars, _yen = our_paypal_sales(merchant, account, dollars="ORDER-1", yen="ORDER-2")
    monkeypatch.setattr("processors.paypal.settlement.PAGE_SIZE", 3)

    code, out = run_reconcile("--account", account.id, "--date", DAY)

    assert code == 0, out
    assert classes() == {Classification.MATCHED: 2, Classification.REFUND_OUTSIDE_GATEWAY: 1}
    searches = fake_paypal.requests_to("/v1/reporting/transactions")
    assert [r.query["page"] for r in searches] == ["1", "2"]
    assert searches[0].query["start_date"] == "2026-03-02T00:00:00Z" and searches[0].query["fields"] == "all"
    assert JournalEntry.objects.filter(kind=EntryKind.FEE, payment_id=dollars.id).get().amount == 99


def test_the_paypal_fake_refuses_what_transaction_search_refuses(merchant, fake_paypal):
    account = paypal_account_for(merchant.id, fake_paypal)
    from processors.paypal.client import PayPalClient

    client = PayPalClient(
        account_id=account.id,
        config={
            "client_id": fake_paypal.client_id,
            "client_secret": fake_paypal.client_secret,
            "base_url": fake_paypal.base_url,
        },
    )
    ok = "start_date=2026-03-02T00:00:00Z&end_date=2026-03-03T00:00:00Z"
    assert client.read(f"/v1/reporting/transactions?{ok}").status == 200
    assert client.read("/v1/reporting/transactions?start_date=2026-03-02T00:00:00Z").status == 400
    assert client.read("/v1/reporting/transactions?start_date=2026-03-02&end_date=2026-03-03").status == 400
    too_long = "start_date=2026-01-01T00:00:00Z&end_date=2026-03-03T00:00:00Z"
    assert client.read(f"/v1/reporting/transactions?{too_long}").status == 400
    assert client.read(f"/v1/reporting/transactions?{ok}&page_size=501").status == 400
    assert client.read(f"/v1/reporting/transactions?{ok}&sort=asc").status == 400


def _payout(fake_stripe, payout_id: str) -> dict:
    return next(p for p in fake_stripe.payouts if p["id"] == payout_id)


def test_stripe_payouts_are_followed_until_they_arrive_or_fail(merchant, stripe_books, fake_stripe):
    # Given the day reconciled while po_1E was in transit and po_1D paid
    account = stripe_books[0]
    code, out = run_reconcile("--account", account.id, "--date", DAY)
    assert code == 0, out
    assert not JournalEntry.objects.filter(operation_ref="po_1E", kind=EntryKind.PAYOUT_PAID).exists()

    # When po_1E arrives and po_1D fails after it was paid (Stripe documents paid -> failed)
    _payout(fake_stripe, "po_1E")["status"] = "paid"
    _payout(fake_stripe, "po_1D")["status"] = "failed"
    # And the next day is reconciled (neither payout was created that day), then the first day again
    code, out = run_reconcile("--account", account.id, "--date", "2026-03-03")
    assert code == 0, out
    code, out = run_reconcile("--account", account.id, "--date", DAY)
    assert code == 0, out

    # Then po_1E was read again by id and booked as arrived; po_1D's arrival is reversed, once
    assert fake_stripe.requests_to("/v1/payouts/po_1E")
    kinds = sorted(JournalEntry.objects.filter(payment_id="").values_list("operation_ref", "kind"))
    assert kinds == [
        ("po_1D", "payout"),
        ("po_1D", "payout_failed"),
        ("po_1D", "payout_paid"),
        ("po_1E", "payout"),
        ("po_1E", "payout_paid"),
    ]
    [row] = ledger_report(merchant_id=merchant.id)
    assert (row.paid_out, row.in_transit) == (2000, 0)
    assert ledger_report(merchant_id=merchant.id, livemode=True) == []


def test_a_payout_the_books_refuse_is_an_item_and_the_run_still_completes(merchant, stripe_books, fake_stripe):
    # Given the day reconciled
    account = stripe_books[0]
    assert run_reconcile("--account", account.id, "--date", DAY)[0] == 0
    # When Stripe now reports po_1E for another amount than was posted
    _payout(fake_stripe, "po_1E")["amount"] = 2500
    code, out = run_reconcile("--account", account.id, "--date", DAY)

    # Then the run completes: one payout_refused item (blocking), the rest as before
    assert code == 1, out
    [item] = items(Classification.PAYOUT_REFUSED)
    assert (item.key, item.kind) == ("payout:po_1E", "payout") and "2500" in item.detail
    assert classes() == {Classification.MATCHED: 3, Classification.PAYOUT_REFUSED: 1}
    assert JournalEntry.objects.get(operation_ref="po_1E", kind=EntryKind.PAYOUT).amount == 2000


@pytest.fixture
def paypal_books(merchant, paypal_file_account):
    """The Settlement Report fixture's two sales as our payments (its refund is each test's own)."""
    account = paypal_file_account
    dollars, yen = our_paypal_sales(merchant, account, dollars="8MC585209K746392H", yen="5TY05013RG002845M")
    return account, dollars, yen


@pytest.fixture
def altered_srf(tmp_path) -> Callable[[Callable[[str], str]], Path]:
    """Writes the Settlement Report fixture as ``change`` alters its text, under the fixture's file
    name (as PayPal names it), in the test's tmp_path; returns the path."""

    def write(change: Callable[[str], str]) -> Path:
        path = tmp_path / SRF.name
        path.write_text(change(SRF.read_text()))
        return path

    return write


def test_the_paypal_settlement_report_is_read_as_transaction_search_reads_the_same_day():
    # Given the same day as an SFTP Settlement Report and as a saved Transaction Search answer
    srf = settlement_file_read(path=str(SRF), processor="paypal", start=START, end=END)
    search = settlement_file_read(
        path=str(FIXTURES / "paypal_transactions_2026-03-02.json"), processor="paypal", start=START, end=END
    )
    # Then both are the same normalised report: 100000 hundredths of yen are 1000 JPY, the fee kept is
    # positive, the refund negative, the T0400 withdrawal a payout
    assert srf.lines == search.lines
    assert [(p.payout_id, p.amount, p.currency, p.status) for p in srf.payouts] == [
        ("9GS80322P28628837", 1000, "USD", "paid")
    ]
    assert {line.line_id: (line.amount, line.fee, line.net) for line in srf.lines} == {
        "8MC585209K746392H": (2000, 99, 1901),
        "1JU08902781691411": (-500, 0, -500),
        "5TY05013RG002845M": (1000, 75, 925),
    }


def test_a_clean_day_in_the_paypal_settlement_report_is_all_matched_and_the_books_sum_to_it(merchant, paypal_books):
    account, dollars, yen = paypal_books
    our_refund(dollars, reference="1JU08902781691411", amount=500)

    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(SRF))

    assert code == 0, out
    assert classes() == {Classification.MATCHED: 3}
    fees = dict(JournalEntry.objects.filter(kind=EntryKind.FEE).values_list("payment_id", "amount"))
    assert fees == {dollars.id: 99, yen.id: 75}
    rows = {row.currency: row for row in ledger_report(merchant_id=merchant.id, since=START, until=END)}
    report = settlement_file_read(path=str(SRF), processor="paypal", start=START, end=END)
    for currency, row in rows.items():
        lines = [line for line in report.lines if line.currency == currency]
        assert row.fees == sum(line.fee for line in lines)
        assert row.paid_out == sum(p.amount for p in report.payouts if p.currency == currency)
    assert (rows["USD"].fees, rows["USD"].paid_out, rows["JPY"].fees) == (99, 1000, 75)

    # A rerun of the same file changes nothing
    items = sorted(ReconciliationItem.objects.values_list("id", "classification"))
    entries = JournalEntry.objects.count()
    assert run_reconcile("--account", account.id, "--date", DAY, "--file", str(SRF))[0] == 0
    assert sorted(ReconciliationItem.objects.values_list("id", "classification")) == items
    assert JournalEntry.objects.count() == entries


def _with_unknown_sale(text: str) -> str:
    unknown = (
        '"SB","7XK12345AB1234567","","","","T0003","2026/03/02 09:00:00 +0000","2026/03/02 09:00:01 +0000",'
        '"CR",900,"USD","DR",56,"USD","","stranger@example.com","",""\n'
    )
    text = text.replace('"SF"', unknown + '"SF"', 1)
    text = text.replace('"SC",4', '"SC",5').replace('"RC",4', '"RC",5')
    # the USD footers now sum one more credit of 900 and one more fee debit of 56
    return text.replace('"SF","USD",2000,1500,0,99', '"SF","USD",2900,1500,0,155').replace(
        '"RF","USD",2000,1500,0,99', '"RF","USD",2900,1500,0,155'
    )


def test_a_sale_in_the_paypal_settlement_report_we_do_not_know_is_missing_in_gateway(
    merchant, paypal_books, altered_srf
):
    account, dollars, _yen = paypal_books
    our_refund(dollars, reference="1JU08902781691411", amount=500)
    path = altered_srf(_with_unknown_sale)

    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(path))

    assert code == 1, out
    assert classes() == {Classification.MATCHED: 3, Classification.MISSING_IN_GATEWAY: 1}
    [missing] = items(Classification.MISSING_IN_GATEWAY)
    assert (missing.processor_amount, missing.processor_currency) == (900, "USD")


def _in_two_sections(text: str, *, second_usd_footer: str = "0,1000,0,0") -> str:
    """The fixture's day as two sections, each with its own footers: the sale and its refund, then the
    yen sale and the withdrawal; the RF footers and the RC count for the whole report."""
    rh, fh, sh, ch, sale, refund, yen, withdrawal = text.splitlines()[:8]
    records = [rh, fh, sh, ch, sale, refund, '"SF","USD",2000,500,0,99', '"SC",2', sh, ch, yen, withdrawal]
    records += [f'"SF","USD",{second_usd_footer}', '"SF","JPY",100000,0,0,7500', '"SC",2']
    records += ['"RF","USD",2000,1500,0,99', '"RF","JPY",100000,0,0,7500', '"RC",4', '"FF",01']
    return "\n".join(records) + "\n"


def test_each_section_footer_sums_its_own_rows_and_the_report_footer_all_of_them(altered_srf):
    # Given the day as two sections with dollars in both, each footed with its own rows' totals
    path = altered_srf(_in_two_sections)
    # When it is read, Then it is the same report as the one-section file
    one = settlement_file_read(path=str(SRF), processor="paypal", start=START, end=END)
    two = settlement_file_read(path=str(path), processor="paypal", start=START, end=END)
    assert (two.lines, two.payouts) == (one.lines, one.payouts)

    # Given the second section's dollar footer stating the report's dollars instead of its own
    path = altered_srf(lambda text: _in_two_sections(text, second_usd_footer="2000,1500,0,99"))
    # Then it is refused: a section's footer is its own rows' sum
    with pytest.raises(InvalidRequest) as refused:
        settlement_file_read(path=str(path), processor="paypal", start=START, end=END)
    assert "line 13: SF USD Total Gross Amount Credit is 2000, the SB rows sum to 0" in str(refused.value)


def _without_the_refund(text: str) -> str:
    refund = next(line for line in text.splitlines(keepends=True) if "1JU08902781691411" in line)
    return text.replace(refund, "").replace('"SC",4', '"SC",3').replace('"RC",4', '"RC",3')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('"RH",', '"XX",', 1), "RH report header"),
        (lambda t: t.replace('"CR",2000,', '"CR",20.00,'), "is not an amount"),
        (lambda t: t.replace("100000,", "100050,"), "not an exact JPY amount"),
        (lambda t: t.replace('"SC",4', '"SC",3'), "SC counts"),
        (lambda t: t[: t.index('"RF"')], "no RF report footer"),
        (lambda t: t.replace('"Custom Field",', '"Custom",'), "lacks Custom Field"),
        (lambda t: t.replace('"2026/03/02 06:00:00 +0000"', '"yesterday"'), "not a date"),
        # the footers' money (line 9 is the USD SF, 10 the JPY SF, 12 the USD RF): a row's amount altered,
        # the count unchanged; a row cut with the counts mended; a direction flipped; a fee altered in a
        # row, then in a footer; an RF total wrong under right SFs; a currency without its footer
        (
            lambda t: t.replace('"CR",2000,"USD"', '"CR",2100,"USD"'),
            "line 9: SF USD Total Gross Amount Credit is 2000, the SB rows sum to 2100",
        ),
        (_without_the_refund, "line 8: SF USD Total Gross Amount Debit is 1500, the SB rows sum to 1000"),
        (
            lambda t: t.replace('"DR",1000,"USD"', '"CR",1000,"USD"'),
            "line 9: SF USD Total Gross Amount Credit is 2000, the SB rows sum to 3000",
        ),
        (
            lambda t: t.replace('"DR",99,"USD"', '"DR",98,"USD"'),
            "line 9: SF USD Total Fee Amount Debit is 99, the SB rows sum to 98",
        ),
        (
            lambda t: t.replace('"SF","JPY",100000,0,0,7500', '"SF","JPY",100000,0,0,7400'),
            "line 10: SF JPY Total Fee Amount Debit is 7400, the SB rows sum to 7500",
        ),
        (
            lambda t: t.replace('"RF","USD",2000,1500,0,99', '"RF","USD",2000,1500,0,98'),
            "line 12: RF USD Total Fee Amount Debit is 98, the SB rows sum to 99",
        ),
        (lambda t: t.replace('"SF","JPY",100000,0,0,7500\n', ""), "line 3: the section has JPY rows but no SF footer"),
        (lambda t: t.replace('"RF","JPY",100000,0,0,7500\n', ""), "the report has JPY rows but no RF footer"),
        (lambda t: t.replace('"SF","USD",2000,', '"SF",2000,'), "is not a currency and four totals"),
    ],
)
def test_a_malformed_paypal_settlement_report_is_refused_and_changes_nothing(
    merchant, paypal_books, altered_srf, change, message
):
    account, *_ = paypal_books
    path = altered_srf(change)

    code, out = run_reconcile("--account", account.id, "--date", DAY, "--file", str(path))

    assert code == 1 and message in out, out
    assert not ReconciliationItem.objects.exists() and not JournalEntry.objects.exists()
