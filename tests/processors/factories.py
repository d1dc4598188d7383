import uuid

import factory

from processors.base import AuthorizeRequest, CardDetails
from processors.models import ProcessorAccount, ProcessorRoute
from processors.services import processor_account_create
from tests.factories import MerchantFactory


def card(number: str = "4242424242424242", cvc: str = "123") -> CardDetails:
    return CardDetails(number=number, exp_month=12, exp_year=2040, cvc=cvc, holder_name="Ada Lovelace")


def new_reference() -> str:
    return f"att_{uuid.uuid4().hex}"


def card_request(
    number: str = "4242424242424242",
    *,
    amount: int = 2000,
    currency: str = "USD",
    capture: bool = True,
    reference: str | None = None,
) -> AuthorizeRequest:
    return AuthorizeRequest(
        reference=reference or new_reference(),
        amount=amount,
        currency=currency,
        capture=capture,
        payment_method_type="card",
        return_url="https://merchant.example/return",
        card=card(number),
    )


def paypal_request(
    *, amount: int = 1050, currency: str = "USD", capture: bool = True, reference: str | None = None
) -> AuthorizeRequest:
    return AuthorizeRequest(
        reference=reference or new_reference(),
        amount=amount,
        currency=currency,
        capture=capture,
        payment_method_type="paypal",
        return_url="https://gateway.example/v1/payments/return",
    )


class ProcessorAccountFactory(factory.django.DjangoModelFactory):
    """A processor account made through the service, so its credentials are encrypted as in production."""

    class Meta:
        model = ProcessorAccount

    merchant = factory.SubFactory(MerchantFactory)
    processor = "stripe"
    display_name = factory.Sequence(lambda n: f"Account {n}")
    credentials = factory.LazyAttribute(
        lambda o: (
            {"secret_key": "sk_test_factory", "webhook_secret": "whsec_factory"}
            if o.processor == "stripe"
            else {"client_id": "factory-client", "client_secret": "factory-secret"}
        )
    )
    base_url = ""
    connect_timeout = 10.0
    read_timeout = 10.0

    @classmethod
    def _create(cls, model_class, *args, merchant, **kwargs):
        return processor_account_create(merchant_id=merchant.id, **kwargs)


class ProcessorRouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcessorRoute

    account = factory.SubFactory(ProcessorAccountFactory)
    merchant = factory.SelfAttribute("account.merchant")
    payment_method_type = "card"
    currency = ""
    priority = factory.Sequence(lambda n: n + 1)
