from datetime import timedelta

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from customers.models import Customer, CustomerSession
from tests.factories import MerchantFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    """``CustomerFactory(password="...")`` stores a real Argon2 hash; the default has no password.
    A test-mode customer unless ``livemode=True``."""

    class Meta:
        model = Customer
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")
    phone = ""
    metadata = factory.LazyFunction(dict)

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        if extracted:
            obj.password = make_password(extracted)
            if create:
                obj.save(update_fields=["password"])


class CustomerSessionFactory(factory.django.DjangoModelFactory):
    """A session row only (its raw token is unknown); log in through the API for a usable token."""

    class Meta:
        model = CustomerSession

    customer = factory.SubFactory(CustomerFactory)
    merchant = factory.SelfAttribute("customer.merchant")
    livemode = factory.SelfAttribute("customer.livemode")
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
