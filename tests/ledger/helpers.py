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


def open_accounts(merchant_id: str, currency: str, livemode: bool = False) -> dict[str, LedgerAccount]:
    return {
        code: LedgerAccount.objects.get_or_create(
            merchant_id=merchant_id, code=code, currency=currency, livemode=livemode, defaults={"type": kind}
        )[0]
        for code, kind in ACCOUNT_TYPES.items()
    }


def write_entry_directly(
    *,
    merchant_id: str,
    payment_id: str,
    kind: str,
    amount: int,
    currency: str,
    lines: list[tuple],
    ref: str = "",
    line_merchant_id: str = "",
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
        JournalLine.objects.create(
            merchant_id=line_merchant_id or merchant_id, entry=entry, account=account, debit=debit, credit=credit
        )
    return entry


def _no_pending_trigger_events(cursor) -> None:
    # ALTER TABLE refuses a table with trigger events still pending in this transaction: check
    # them now (what was written so far is sound), then go back to checking at COMMIT.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def balance_check_disable() -> None:
    """Switch off the commit-time balance check for the test's transaction only (DDL is rolled back
    with it), to stand in for books damaged behind the database's back: restored from a bad backup,
    written with triggers off, or in the SQLite demo mode, which has no such trigger."""
    with connection.cursor() as cursor:
        _no_pending_trigger_events(cursor)
        cursor.execute("ALTER TABLE ledger_journal_entry DISABLE TRIGGER ledger_journal_entry_balanced")
        cursor.execute("ALTER TABLE ledger_journal_line DISABLE TRIGGER ledger_journal_line_balanced")


def operation_uniqueness_drop() -> None:
    """Drop "one entry per operation" for the test's transaction only, so the same capture can be
    written twice, as a restore that merged two backups would."""
    with connection.cursor() as cursor:
        _no_pending_trigger_events(cursor)
        cursor.execute("ALTER TABLE ledger_journal_entry DROP CONSTRAINT ledger_entry_unique_operation_mode")
