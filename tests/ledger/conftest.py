import pytest

from tests.factories import MerchantFactory

from .helpers import balance_check_disable


@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Acme")


@pytest.fixture
def other_merchant(db):
    return MerchantFactory(name="Globex")


@pytest.fixture
def balance_trigger_disabled(db):
    """The commit-time balance check off for this test's transaction only (see helpers)."""
    balance_check_disable()
