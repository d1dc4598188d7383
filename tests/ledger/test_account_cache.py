"""The merchant's account ids are cached once committed (accounts are append-only)."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from gateway.ids import new_id
from ledger.models import JournalLine, LedgerAccount
from ledger.services import _accounts_cache_key, ledger_post_capture

pytestmark = pytest.mark.django_db


def _capture(merchant_id: str, amount: int = 1000, currency: str = "USD"):
    payment_id = new_id("pay")
    return ledger_post_capture(
        merchant_id=merchant_id,
        livemode=False,
        payment_id=payment_id,
        capture_ref=payment_id,
        amount=amount,
        currency=currency,
    )


def test_account_ids_are_cached_after_commit_and_used_for_the_next_posting(
    merchant, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _capture(merchant.id)
    expected = dict(LedgerAccount.objects.filter(merchant_id=merchant.id, currency="USD").values_list("code", "id"))
    assert cache.get(_accounts_cache_key(merchant.id, False, "USD")) == expected
    # No account query once cached. PostgreSQL: savepoint, entry and lines (one statement), release.
    # SQLite: savepoint, history, entry, lines, release.
    expected_queries = 3 if connection.vendor == "postgresql" else 5
    with django_assert_num_queries(expected_queries), transaction.atomic():
        entry = _capture(merchant.id)
    assert {line.account_id for line in JournalLine.objects.filter(entry=entry)} == set(expected.values())


def test_accounts_opened_by_a_rolled_back_transaction_are_not_cached(merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                _capture(merchant.id, currency="EUR")
                raise RuntimeError
        except RuntimeError:
            pass
    assert cache.get(_accounts_cache_key(merchant.id, False, "EUR")) is None
    assert not LedgerAccount.objects.filter(merchant_id=merchant.id, currency="EUR").exists()
