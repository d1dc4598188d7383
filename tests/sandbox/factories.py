import factory

from gateway.ids import new_id
from sandbox.models import SandboxCharge


class SandboxChargeFactory(factory.django.DjangoModelFactory):
    """A charge waiting for the customer (3-D Secure), as the connector records it."""

    class Meta:
        model = SandboxCharge

    id = factory.LazyFunction(lambda: new_id("sbch"))
    merchant_id = factory.LazyFunction(lambda: new_id("mer"))
    reference = factory.LazyFunction(lambda: new_id("att"))
    payment_method_type = "card"
    brand = "visa"
    last4 = "3155"
    amount = 2500
    currency = "EUR"
    capture_requested = True
    status = SandboxCharge.Status.REQUIRES_ACTION
    action = SandboxCharge.Action.PENDING
    return_url = "https://shop.example/return"

    class Params:
        paypal = factory.Trait(id=factory.LazyFunction(lambda: new_id("sbpo")), payment_method_type="paypal",
                               brand="", last4="")  # fmt: skip
