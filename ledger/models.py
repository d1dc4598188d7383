"""Double-entry books: accounts, journal entries and their lines.

Chart of accounts (one set per merchant, mode and currency, created on first posting). Test and live
money never share an account or an entry: ``livemode`` is part of each account's and entry's
identity, and the balance trigger refuses an entry with a line on the other mode's account.

* ``processor_receivable`` (asset, debit-normal): money captured at a processor that the processor
  owes us until it settles.
* ``merchant_balance`` (liability, credit-normal): money we owe the merchant.

* ``processor_fees`` (expense, debit-normal): what the processors kept as fees (from their
  settlement data), including dispute fees.
* ``disputes`` (expense, debit-normal): money withdrawn by the processor for a dispute (chargeback)
  while it is open or lost; a won dispute reinstates it.
* ``payouts_in_transit`` (asset): paid out by the processor, not yet in the bank.
* ``bank`` (asset): payouts that arrived.

Postings (see ``ledger.services``; docs/finance.md has the full table):

* capture: Dr processor_receivable / Cr merchant_balance
* refund:  Dr merchant_balance / Cr processor_receivable (the processor nets the refund out of what it
  owes us, and the merchant's balance shrinks by the same amount)
* fee: Dr processor_fees / Cr processor_receivable (fee_reversal: the reverse)
* dispute: Dr disputes (amount) + Dr processor_fees (fee) / Cr processor_receivable (amount + fee);
  dispute_reversal (won): the reverse of what is reinstated
* payout: Dr payouts_in_transit / Cr processor_receivable; payout_paid: Dr bank / Cr
  payouts_in_transit; payout_failed: Dr processor_receivable / Cr payouts_in_transit, or, for a
  payout that failed after it was reported paid (Stripe: paid -> failed), Dr processor_receivable /
  Cr bank (the reverse of the arrival)

``merchant_balance`` therefore holds gross captures minus refunds only (what the payments app's own
figures are checked against); fees and disputes are separate accounts, so net = merchant_balance -
processor_fees - disputes, and processor_receivable = net - paid out - in transit.

Entries and lines are append-only; the database rejects UPDATE and DELETE on them (migration 0002).
A correction is a new entry, never an edit. Balances are computed from the lines, never stored on
an account row: a stored balance would be one hot row per merchant that every posting has to lock.
"""

from django.db import models
from django.db.models import Q

from gateway.ids import PublicIdField


class AccountCode(models.TextChoices):
    PROCESSOR_RECEIVABLE = "processor_receivable", "Processor receivable"
    MERCHANT_BALANCE = "merchant_balance", "Merchant balance"
    PROCESSOR_FEES = "processor_fees", "Processor fees"
    DISPUTES = "disputes", "Disputes"
    PAYOUTS_IN_TRANSIT = "payouts_in_transit", "Payouts in transit"
    BANK = "bank", "Bank"


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EXPENSE = "expense", "Expense"


# Which side increases the account: assets grow with debits, liabilities with credits.
ACCOUNT_TYPES: dict[str, str] = {
    AccountCode.PROCESSOR_RECEIVABLE: AccountType.ASSET,
    AccountCode.MERCHANT_BALANCE: AccountType.LIABILITY,
    AccountCode.PROCESSOR_FEES: AccountType.EXPENSE,
    AccountCode.DISPUTES: AccountType.EXPENSE,
    AccountCode.PAYOUTS_IN_TRANSIT: AccountType.ASSET,
    AccountCode.BANK: AccountType.ASSET,
}
DEBIT_NORMAL_TYPES = frozenset({AccountType.ASSET, AccountType.EXPENSE})


class EntryKind(models.TextChoices):
    CAPTURE = "capture", "Capture"
    REFUND = "refund", "Refund"
    FEE = "fee", "Processor fee"
    FEE_REVERSAL = "fee_reversal", "Processor fee returned"
    DISPUTE = "dispute", "Dispute opened"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"
    PAYOUT = "payout", "Payout created"
    PAYOUT_PAID = "payout_paid", "Payout arrived"
    PAYOUT_FAILED = "payout_failed", "Payout failed"


# Entries about a payout, not a payment: their payment_id is empty (and only theirs).
PAYOUT_KINDS = frozenset({EntryKind.PAYOUT, EntryKind.PAYOUT_PAID, EntryKind.PAYOUT_FAILED})


class LedgerAccount(models.Model):
    # No index of its own: an index or unique constraint of this table leads with it.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="ledger_accounts", db_index=False
    )
    code = models.CharField(max_length=40, choices=AccountCode.choices)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    currency = models.CharField(max_length=3)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_account"
        ordering = ["merchant_id", "livemode", "currency", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "livemode", "code", "currency"], name="ledger_account_unique_code_mode"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.currency} {'live' if self.livemode else 'test'} ({self.merchant_id})"

    @property
    def is_debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL_TYPES


class JournalEntry(models.Model):
    """One business event (a capture, a refund, a fee, a dispute, a payout) as a balanced set of lines
    in one currency."""

    id = PublicIdField(prefix="je")
    # No index of its own: the (merchant, ...) index and unique constraint below lead with it.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="journal_entries", db_index=False
    )
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    currency = models.CharField(max_length=3)
    # Test or live money: every line of the entry is on an account of the same mode.
    livemode = models.BooleanField(default=False)
    # Total of the debits (= total of the credits); lets reports aggregate without reading lines, and
    # the balance trigger checks the lines against it.
    amount = models.BigIntegerField()
    # References into the payments app: plain strings, no FK, so the books never depend on its tables.
    # Empty for payout entries (a payout moves the processor balance, not one payment).
    payment_id = models.CharField(max_length=40)
    refund_id = models.CharField(max_length=40, blank=True, default="")
    # The operation this entry records (a capture reference, or the refund id): a given operation can
    # be posted only once per payment and kind.
    operation_ref = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True, default="")
    # When the event happened at the processor (a settlement line's or payout's time), for entries
    # posted later from settlement data; null: when it was posted (``created``). Reports use this.
    occurred_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_journal_entry"
        ordering = ["-id"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "livemode", "kind", "payment_id", "operation_ref"],
                name="ledger_entry_unique_operation_mode",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_entry_amount_positive"),
            models.CheckConstraint(
                condition=(Q(kind=EntryKind.REFUND) & ~Q(refund_id="") & Q(operation_ref=models.F("refund_id")))
                | (~Q(kind=EntryKind.REFUND) & Q(refund_id="")),
                name="ledger_entry_refund_reference",
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=sorted(PAYOUT_KINDS)) & Q(payment_id=""))
                | (~Q(kind__in=sorted(PAYOUT_KINDS)) & ~Q(payment_id="")),
                name="ledger_entry_payment_reference",
            ),
        ]
        indexes = [
            models.Index(fields=["payment_id"], name="ledger_entry_payment_idx"),
            models.Index(fields=["merchant", "created"], name="ledger_entry_merchant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} {self.amount} {self.currency}"


class JournalLine(models.Model):
    # The entry's merchant, so the line is distributed with its entry and account (docs/scaling.md).
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines")
    debit = models.BigIntegerField(default=0)
    credit = models.BigIntegerField(default=0)

    class Meta:
        db_table = "ledger_journal_line"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(debit__gte=0), name="ledger_line_debit_non_negative"),
            models.CheckConstraint(condition=Q(credit__gte=0), name="ledger_line_credit_non_negative"),
            models.CheckConstraint(
                condition=Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0), name="ledger_line_one_side"
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.entry_id} {side}"
