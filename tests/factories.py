"""factory_boy factories shared by every test package. Apps add their own factories here."""

import factory

from merchants.models import Merchant
from sandbox.models import SandboxCharge


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")


class SandboxChargeFactory(factory.django.DjangoModelFactory):
    """A card charge the sandbox captured in full, written as the sandbox's own row: money moved at the
    processor whether or not a payment of ours asked for it (``reference`` is the attempt that did)."""

    class Meta:
        model = SandboxCharge

    merchant_id = factory.LazyFunction(lambda: MerchantFactory().id)
    reference = factory.Sequence(lambda n: f"att_unknown_{n}")
    payment_method_type = "card"
    amount = 900
    currency = "USD"
    capture_requested = True
    status = SandboxCharge.Status.SUCCEEDED
    amount_authorized = factory.SelfAttribute("amount")
    amount_captured = factory.SelfAttribute("amount")
