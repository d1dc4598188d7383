import pytest

from tests.factories import MerchantFactory

from .factories import CapturePostingFactory, SettlementPostings
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


@pytest.fixture
def capture(merchant):
    """The capture entry of a test-mode payment of 10,000 USD, the one ``settlement`` posts on."""
    return CapturePostingFactory(merchant_id=merchant.id, amount=10_000, currency="USD")


@pytest.fixture
def settlement(capture) -> SettlementPostings:
    """Fees, disputes and payouts of the captured payment's settlement, as the processor reports them."""
    return SettlementPostings(merchant_id=capture.merchant_id, payment_id=capture.payment_id)
