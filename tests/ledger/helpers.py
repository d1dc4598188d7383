"""Helpers for tests that need to look behind the posting services."""

from contextlib import contextmanager

from django.db import connection, transaction

from ledger.models import ACCOUNT_TYPES, JournalEntry, JournalLine, LedgerAccount


@contextmanager
def commit_time_checks():
    """Rows written inside the block meet the commit-time (deferred) triggers on leaving it, as they
    would at COMMIT; the block is a savepoint, so a rejection leaves the test's transaction usable."""
    try:
        with transaction.atomic():
            yield
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def open_accounts(merchant_id: str, currency: str) -> dict[str, LedgerAccount]:
    return {
        code: LedgerAccount.objects.get_or_create(
            merchant_id=merchant_id, code=code, currency=currency, defaults={"type": kind}
        )[0]
        for code, kind in ACCOUNT_TYPES.items()
    }


def write_entry_directly(
    *, merchant_id: str, payment_id: str, kind: str, amount: int, currency: str, lines: list[tuple], ref: str = ""
) -> JournalEntry:
    """Write an entry and its lines with the ORM, bypassing the posting service's checks.

    ``lines`` holds (account, debit, credit) tuples.
    """
    ref = ref or f"{kind}_{payment_id}"
    entry = JournalEntry.objects.create(
        merchant_id=merchant_id,
        kind=kind,
        currency=currency,
        amount=amount,
        payment_id=payment_id,
        refund_id=ref if kind == "refund" else "",
        operation_ref=ref,
    )
    for account, debit, credit in lines:
        JournalLine.objects.create(entry=entry, account=account, debit=debit, credit=credit)
    return entry
