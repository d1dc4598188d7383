"""Processor fixtures: the fake Stripe and PayPal servers, accounts pointing at them, and the
controls that keep these tests independent of how busy the machine is.

* Accounts get generous timeouts (``TIMEOUT``): a normal reply of a fake never turns into a
  spurious timeout. A test that needs a timeout holds the request at the fake (``inject("hold")``)
  and makes the client's read timeout short for that one call only (``short_read_timeout``):
  the calls the same operation makes before it (a Stripe PaymentMethod, a PayPal order read)
  keep the generous timeout, however long a loaded machine takes to answer them.
* Breakers get a long reset timeout (``BREAKER_RESET_TIMEOUT``), so no breaker half-opens by
  itself during a test; ``breaker_clock`` freezes pybreaker's clock and lets a test move it.
"""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pybreaker
import pytest

from processors.http import HttpClient
from processors.models import ProcessorAccount
from processors.services import processor_account_create, processor_config_changed
from tests.fakes.paypal import FakePayPal
from tests.fakes.stripe import FakeStripe

# Connect and read, seconds: far beyond any reply of a fake on a loaded machine (two calls in a
# row, 2 x (20 + 20) s, stay under the 90 s request deadline that processor accounts must respect).
TIMEOUT = 20.0
SHORT_READ_TIMEOUT = 0.5  # only for a call held at the fake, which cannot be answered in time
BREAKER_RESET_TIMEOUT = 60.0


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


def _account_options(overrides) -> dict:
    options = {
        "connect_timeout": TIMEOUT,
        "read_timeout": TIMEOUT,
        "breaker_fail_max": 3,
        "breaker_reset_timeout": BREAKER_RESET_TIMEOUT,
    }
    options.update(overrides)
    return options


def stripe_account_for(merchant_id: str, fake: FakeStripe, **overrides):
    options = _account_options(overrides)
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
    options = _account_options(overrides)
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


@contextmanager
def only_held_call_times_out(*, path: str, method: str = "POST"):
    """Within the block, only ``method`` calls to a path starting with ``path`` (the call a test
    holds at the fake, named as in ``inject``) keep their account's read timeout; every other call
    gets at least the generous ``TIMEOUT``, so no reply load delays can time out in its place."""
    original = HttpClient.request

    def request(self, verb, url_path, **kwargs):
        if verb == method and url_path.startswith(path):
            return original(self, verb, url_path, **kwargs)
        configured = self.timeout
        self.timeout = (configured[0], max(configured[1], TIMEOUT))
        try:
            return original(self, verb, url_path, **kwargs)
        finally:
            self.timeout = configured

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpClient, "request", request)
        yield


@contextmanager
def short_read_timeout(
    account: ProcessorAccount, seconds: float = SHORT_READ_TIMEOUT, *, path: str, method: str = "POST"
):
    """Within the block, connectors built for ``account`` give up reading after ``seconds`` on the
    call held at the fake (``method`` ``path``, as given to ``inject("hold")``), and only on it.

    The calls before it in the same operation (a PayPal token or order read, a Stripe
    PaymentMethod) and the calls after the block (a status sync) keep the generous timeout, so
    load cannot turn them into timeouts. Make the held call inside the block.
    """
    ProcessorAccount.objects.filter(pk=account.pk).update(read_timeout=seconds)
    processor_config_changed(merchant_id=account.merchant_id)
    try:
        with only_held_call_times_out(path=path, method=method):
            yield
    finally:
        ProcessorAccount.objects.filter(pk=account.pk).update(read_timeout=account.read_timeout)
        processor_config_changed(merchant_id=account.merchant_id)


class BreakerClock:
    """The time pybreaker sees, frozen until the test moves it (whole seconds: Redis keeps
    ``opened_at`` to the second)."""

    def __init__(self, start: datetime):
        self.now = start

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def breaker_clock(monkeypatch) -> BreakerClock:
    """pybreaker reads the time only through its module's ``datetime.now(UTC)`` (when a breaker
    opens, and when an open breaker decides whether its reset timeout has passed)."""
    clock = BreakerClock(datetime.now(UTC).replace(microsecond=0))

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock.now.astimezone(tz) if tz is not None else clock.now.replace(tzinfo=None)

    monkeypatch.setattr(pybreaker, "datetime", FrozenDatetime)
    return clock


@pytest.fixture
def stripe_account(merchant_keys, fake_stripe):
    return stripe_account_for(merchant_keys.merchant_id, fake_stripe)


@pytest.fixture
def paypal_account(merchant_keys, fake_paypal):
    return paypal_account_for(merchant_keys.merchant_id, fake_paypal)
