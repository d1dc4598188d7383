import pytest

from ledger.models import JournalEntry, LedgerAccount

from .factories import CapturePostingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(merchant):
    return CapturePostingFactory(merchant_id=merchant.id, amount=4321, currency="USD")


def test_entries_are_listed_and_shown_with_their_lines(admin_client, entry):
    listing = admin_client.get("/admin/ledger/journalentry/")
    assert listing.status_code == 200
    assert entry.id in listing.content.decode()

    page = admin_client.get(f"/admin/ledger/journalentry/{entry.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("4321") >= 3  # the entry's amount, the debit line and the credit line
    assert "processor_receivable" in html
    assert "merchant_balance" in html
    assert 'name="_save"' not in html


def test_nothing_can_be_added_changed_or_deleted(admin_client, entry):
    account = LedgerAccount.objects.first()

    assert admin_client.get("/admin/ledger/journalentry/add/").status_code == 403
    assert admin_client.get("/admin/ledger/ledgeraccount/add/").status_code == 403
    assert admin_client.post(f"/admin/ledger/journalentry/{entry.id}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"/admin/ledger/ledgeraccount/{account.id}/delete/", {"post": "yes"}).status_code == 403
    changed = admin_client.post(f"/admin/ledger/journalentry/{entry.id}/change/", {"amount": "1", "description": "x"})
    assert changed.status_code == 403
    listing = admin_client.get("/admin/ledger/journalentry/")
    assert "delete_selected" not in listing.content.decode()

    assert JournalEntry.objects.get(id=entry.id).amount == 4321
    assert LedgerAccount.objects.count() == 2


def test_accounts_are_listed(admin_client, entry, merchant):
    listing = admin_client.get("/admin/ledger/ledgeraccount/")
    assert listing.status_code == 200
    assert listing.content.decode().count(merchant.id) >= 2
