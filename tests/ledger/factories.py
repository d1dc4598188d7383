"""Ledger factories. Entries are made through the posting services, as in production, so every
factory-made entry is balanced; tests that need broken books write rows directly (see conftest)."""

import factory
from django.db import transaction

from gateway.ids import new_id
from ledger.models import ACCOUNT_TYPES, AccountCode, JournalEntry, LedgerAccount
from ledger.services import ledger_post_capture, ledger_post_refund
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
