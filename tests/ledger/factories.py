"""Ledger factories. Entries are made through the posting services, as in production, so every
factory-made entry is balanced; tests that need broken books write rows directly (see conftest)."""

from dataclasses import dataclass
from typing import Any

import factory
from django.db import transaction

from gateway.ids import new_id
from ledger.models import ACCOUNT_TYPES, AccountCode, JournalEntry, LedgerAccount
from ledger.services import (
    ledger_post_capture,
    ledger_post_dispute,
    ledger_post_dispute_fee,
    ledger_post_dispute_won,
    ledger_post_fee,
    ledger_post_payout,
    ledger_post_refund,
)
from tests.factories import MerchantFactory


class LedgerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerAccount

    merchant = factory.SubFactory(MerchantFactory)
    code = AccountCode.MERCHANT_BALANCE
    type = factory.LazyAttribute(lambda o: ACCOUNT_TYPES[o.code])
    currency = "USD"


class CapturePostingFactory(factory.Factory):
    class Meta:
        model = JournalEntry

    merchant_id = factory.LazyFunction(lambda: MerchantFactory().id)
    payment_id = factory.LazyFunction(lambda: new_id("pay"))
    livemode = False
    capture_ref = factory.SelfAttribute("payment_id")
    amount = 1000
    currency = "USD"

    @classmethod
    def _create(cls, model_class, **kwargs):
        with transaction.atomic():
            return ledger_post_capture(**kwargs)


class RefundPostingFactory(factory.Factory):
    """A refund of an existing capture (a fresh one unless ``capture=`` is given); default: all of it."""

    class Meta:
        model = JournalEntry
        exclude = ("capture",)

    capture = factory.SubFactory(CapturePostingFactory)
    merchant_id = factory.SelfAttribute("capture.merchant_id")
    livemode = factory.SelfAttribute("capture.livemode")
    payment_id = factory.SelfAttribute("capture.payment_id")
    refund_id = factory.LazyFunction(lambda: new_id("re"))
    amount = factory.SelfAttribute("capture.amount")
    currency = factory.SelfAttribute("capture.currency")

    @classmethod
    def _create(cls, model_class, **kwargs):
        with transaction.atomic():
            return ledger_post_refund(**kwargs)


@dataclass(frozen=True)
class SettlementPostings:
    """What a processor's settlement data posts to a merchant's test-mode books in one currency: fees
    and disputes on ``payment_id``, payouts on the merchant. Each call is the service, in its own
    transaction as reconciliation makes it; the caller gives only what the settlement line says."""

    merchant_id: str
    payment_id: str = ""
    currency: str = "USD"

    def _post(self, service, **kwargs: Any):
        with transaction.atomic():
            return service(merchant_id=self.merchant_id, livemode=False, currency=self.currency, **kwargs)

    def fee(self, *, fee_ref: str, amount: int, **extra: Any) -> JournalEntry:
        return self._post(ledger_post_fee, payment_id=self.payment_id, fee_ref=fee_ref, amount=amount, **extra)

    def dispute(self, *, dispute_id: str, amount: int, **extra: Any) -> JournalEntry:
        return self._post(
            ledger_post_dispute, payment_id=self.payment_id, dispute_id=dispute_id, amount=amount, **extra
        )

    def dispute_fee(self, *, dispute_id: str, fee: int) -> JournalEntry | None:
        return self._post(ledger_post_dispute_fee, payment_id=self.payment_id, dispute_id=dispute_id, fee=fee)

    def dispute_won(self, *, dispute_id: str, amount: int, **extra: Any) -> JournalEntry:
        return self._post(
            ledger_post_dispute_won, payment_id=self.payment_id, dispute_id=dispute_id, amount=amount, **extra
        )

    def payout(self, *, payout_id: str, amount: int, status: str) -> list[JournalEntry]:
        return self._post(ledger_post_payout, payout_id=payout_id, amount=amount, status=status)
