import factory

from events.models import Event, WebhookEndpoint
from events.signing import secret_seal
from tests.factories import MerchantFactory

FACTORY_SECRET = "whsec_factory_secret_for_tests"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    merchant = factory.SubFactory(MerchantFactory)
    type = "payment.succeeded"
    livemode = False
    data = factory.LazyFunction(lambda: {"object": {"id": "pay_test", "object": "payment", "amount": 1000}})


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    class Params:
        secret = FACTORY_SECRET

    merchant = factory.SubFactory(MerchantFactory)
    livemode = False
    url = "https://93.184.216.34/hooks"
    enabled_events = factory.LazyFunction(lambda: ["*"])
    enabled = True
    secret_encrypted = factory.LazyAttribute(lambda o: secret_seal(o.secret))
