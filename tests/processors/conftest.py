import pytest

from processors.services import processor_account_create
from tests.fakes.paypal import FakePayPal
from tests.fakes.stripe import FakeStripe


@pytest.fixture
def fake_stripe():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def fake_paypal():
    server = FakePayPal().start()
    yield server
    server.stop()


def stripe_account_for(merchant_id: str, fake: FakeStripe, **overrides):
    options = {"connect_timeout": 1.0, "read_timeout": 1.0, "breaker_fail_max": 3, "breaker_reset_timeout": 1.0}
    options.update(overrides)
    base_url = options.pop("base_url", fake.base_url)
    return processor_account_create(
        merchant_id=merchant_id,
        processor="stripe",
        display_name="Stripe test",
        credentials={"secret_key": fake.secret_key, "webhook_secret": fake.webhook_secret},
        base_url=base_url,
        **options,
    )


def paypal_account_for(merchant_id: str, fake: FakePayPal, **overrides):
    options = {"connect_timeout": 1.0, "read_timeout": 1.0, "breaker_fail_max": 3, "breaker_reset_timeout": 1.0}
    options.update(overrides)
    base_url = options.pop("base_url", fake.base_url)
    return processor_account_create(
        merchant_id=merchant_id,
        processor="paypal",
        display_name="PayPal test",
        credentials={"client_id": fake.client_id, "client_secret": fake.client_secret},
        base_url=base_url,
        webhook_id=fake.webhook_id,
        **options,
    )


@pytest.fixture
def stripe_account(merchant_keys, fake_stripe):
    return stripe_account_for(merchant_keys.merchant_id, fake_stripe)


@pytest.fixture
def paypal_account(merchant_keys, fake_paypal):
    return paypal_account_for(merchant_keys.merchant_id, fake_paypal)
