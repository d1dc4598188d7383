"""Payments as rows, for tests that need a state the API reaches only through a processor
failure (e.g. a process that died between committing the attempt and calling the processor).

``PaymentFactory(merchant=m)`` is an unconfirmed 2000 USD card payment; ``InFlightAttemptFactory``
the attempt row step 1 of a confirmation leaves behind (payment in ``processing``)."""

from datetime import timedelta

import factory
from django.utils import timezone

from payments.models import AttemptOperation, AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from tests.factories import MerchantFactory


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    merchant = factory.SubFactory(MerchantFactory)
    amount = 2000
    currency = "USD"
    status = PaymentStatus.REQUIRES_PAYMENT_METHOD
    payment_method_type = "card"
    card_brand = "visa"
    card_last4 = "4242"
    card_exp_month = 12
    card_exp_year = 2034


class InFlightAttemptFactory(factory.django.DjangoModelFactory):
    """An authorize attempt whose process died mid-call: ``started``, deadline already passed."""

    class Meta:
        model = PaymentAttempt

    payment = factory.SubFactory(PaymentFactory, status=PaymentStatus.PROCESSING)
    merchant = factory.SelfAttribute("payment.merchant")
    operation = AttemptOperation.AUTHORIZE
    origin_status = PaymentStatus.REQUIRES_PAYMENT_METHOD
    processor = "sandbox"
    processor_account_id = "sandbox"
    amount = factory.SelfAttribute("payment.amount")
    status = AttemptStatus.STARTED
    next_sync_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
