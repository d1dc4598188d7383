"""The books' accounts: opened on first use, cached by id (they are append-only)."""

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from merchants.selectors import merchant_get

from ..models import ACCOUNT_TYPES, LedgerAccount
from .errors import LedgerPostingError


def _accounts_cache_key(merchant_id: str, livemode: bool, currency: str) -> str:
    return f"ledger:accounts:v2:{merchant_id}:{'live' if livemode else 'test'}:{currency}"


def _accounts(*, merchant_id: str, livemode: bool, currency: str, codes: set[str]) -> dict[str, int]:
    """Ids of the merchant's accounts in ``livemode`` and ``currency`` by code (at least ``codes``), each opened on
    its first use.

    Accounts are append-only in the database (never updated or deleted), so once they exist their
    ids never change: they are cached (no expiry needed) after the transaction that read them
    commits. A cache miss or outage falls back to one query.
    """
    key = _accounts_cache_key(merchant_id, livemode, currency)
    cached = cache.get(key)
    if isinstance(cached, dict) and all(isinstance(cached.get(code), int) for code in codes):
        return cached
    accounts = _accounts_read(merchant_id=merchant_id, livemode=livemode, currency=currency)
    missing = [code for code in ACCOUNT_TYPES if code in codes and code not in accounts]
    if missing:
        try:
            merchant_get(merchant_id=merchant_id)
        except ObjectDoesNotExist:
            raise LedgerPostingError(f"No such merchant: {merchant_id}.") from None
        # ignore_conflicts: a concurrent first posting may open the same accounts; both then read them.
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    merchant_id=merchant_id, livemode=livemode, code=code, type=ACCOUNT_TYPES[code], currency=currency
                )
                for code in missing
            ],
            ignore_conflicts=True,
        )
        accounts = _accounts_read(merchant_id=merchant_id, livemode=livemode, currency=currency)
    # Only after commit: accounts opened by a transaction that rolls back must never be cached.
    transaction.on_commit(lambda: cache.set(key, accounts, timeout=None), robust=True)
    return accounts


def _accounts_read(*, merchant_id: str, livemode: bool, currency: str) -> dict[str, int]:
    accounts = LedgerAccount.objects.filter(merchant_id=merchant_id, livemode=livemode, currency=currency)
    return dict(accounts.values_list("code", "id"))
