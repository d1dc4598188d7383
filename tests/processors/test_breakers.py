"""Circuit breakers: per account, state in Redis, only transport failures count.

pybreaker's clock is frozen (``breaker_clock``): a breaker half-opens only when the test moves
the clock past its reset timeout, never because the machine was slow between two calls.
"""

import pytest

from processors.base import Outcome
from processors.breakers import breaker_reset, breaker_state
from processors.models import BreakerEvent
from processors.selectors import connector_for_account

from .conftest import BREAKER_RESET_TIMEOUT, stripe_account_for
from .factories import card_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("breaker_clock")]


def _connector(merchant_keys, account):
    # The process's connector (built once), a fresh breaker per call: the breaker state comes from Redis.
    return connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)


@pytest.fixture
def redis_commands(monkeypatch):
    """The Redis commands this process sends (single and pipelined), by name."""
    import redis.client

    sent: list[str] = []
    single, pipelined = redis.client.Redis.execute_command, redis.client.Pipeline.execute

    def execute_command(self, *args, **kwargs):
        sent.append(str(args[0]))
        return single(self, *args, **kwargs)

    def execute(self, *args, **kwargs):
        sent.extend(str(command[0][0]) for command in self.command_stack)
        return pipelined(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Redis, "execute_command", execute_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    return sent


def test_a_clean_call_reads_the_breaker_in_one_command_and_writes_nothing(merchant_keys, redis_commands):
    # given: the merchant's sandbox connector, built once for the process
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id="sandbox")
    assert connector is connector_for_account(merchant_id=merchant_keys.merchant_id, account_id="sandbox")
    connector.authorize(card_request())
    redis_commands.clear()

    # when: a call succeeds with no failure on record
    assert connector.authorize(card_request()).outcome is Outcome.SUCCEEDED

    # then: one MGET of state, failure count and opening time; no SETNX, no reset of a zero count
    assert redis_commands == ["MGET"]


def test_a_failure_then_a_success_records_and_resets_the_count(merchant_keys, stripe_account, fake_stripe):
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=1)
    connector = _connector(merchant_keys, stripe_account)
    connector.authorize(card_request())
    assert breaker_state(stripe_account.id)["fail_counter"] == 1
    assert connector.authorize(card_request()).outcome is Outcome.SUCCEEDED
    assert breaker_state(stripe_account.id)["fail_counter"] == 0


def test_opens_after_fail_max_and_fails_fast(merchant_keys, stripe_account, fake_stripe):
    # given an account with fail_max=3 whose processor answers 500
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=3)
    # when three calls fail
    results = [_connector(merchant_keys, stripe_account).authorize(card_request()) for _ in range(3)]
    # then each call was made and reported its own ambiguous outcome (the tripping one included)
    assert [r.error_code for r in results] == ["processor_error"] * 3
    assert breaker_state(stripe_account.id)["state"] == "open"
    # and the next call is not made at all
    before = len(fake_stripe.log)
    blocked = _connector(merchant_keys, stripe_account).authorize(card_request())
    assert (blocked.outcome, blocked.error_code) == (Outcome.FAILED, "circuit_open")
    assert len(fake_stripe.log) == before
    event = BreakerEvent.objects.get(breaker=stripe_account.id)
    assert (event.old_state, event.new_state, event.merchant_id) == ("closed", "open", merchant_keys.merchant_id)


def test_declines_and_validation_errors_do_not_count(merchant_keys, stripe_account, fake_stripe):
    for _ in range(4):
        assert (
            _connector(merchant_keys, stripe_account).authorize(card_request("4000000000000002")).outcome
            is Outcome.DECLINED
        )
        assert _connector(merchant_keys, stripe_account).authorize(card_request(amount=0)).outcome is Outcome.DECLINED
    assert breaker_state(stripe_account.id) == {"state": "closed", "fail_counter": 0, "opened_at": None}


def test_a_success_resets_the_consecutive_failure_count(merchant_keys, stripe_account, fake_stripe):
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=2)
    _connector(merchant_keys, stripe_account).authorize(card_request())
    _connector(merchant_keys, stripe_account).authorize(card_request())
    assert breaker_state(stripe_account.id)["fail_counter"] == 2
    assert _connector(merchant_keys, stripe_account).authorize(card_request()).outcome is Outcome.SUCCEEDED
    assert breaker_state(stripe_account.id)["fail_counter"] == 0


def test_closes_after_a_successful_trial_call(merchant_keys, stripe_account, fake_stripe, breaker_clock):
    fake_stripe.inject("drop", path="/v1/payment_intents", times=3)
    for _ in range(3):
        assert _connector(merchant_keys, stripe_account).authorize(card_request()).outcome is Outcome.UNKNOWN
    assert _connector(merchant_keys, stripe_account).authorize(card_request()).error_code == "circuit_open"
    # one second before the reset timeout the breaker is still open, and the processor not called
    breaker_clock.advance(BREAKER_RESET_TIMEOUT - 1)
    calls = len(fake_stripe.log)
    assert _connector(merchant_keys, stripe_account).authorize(card_request()).error_code == "circuit_open"
    assert len(fake_stripe.log) == calls
    # once it has passed, the next call is the trial
    breaker_clock.advance(1)
    trial = _connector(merchant_keys, stripe_account).authorize(card_request())
    assert trial.outcome is Outcome.SUCCEEDED
    assert breaker_state(stripe_account.id)["state"] == "closed"
    states = list(
        BreakerEvent.objects.filter(breaker=stripe_account.id).order_by("id").values_list("new_state", flat=True)
    )
    assert states == ["open", "half-open", "closed"]


def test_failed_trial_call_reopens(merchant_keys, stripe_account, fake_stripe, breaker_clock):
    fake_stripe.inject("status", path="/v1/payment_intents", status=503, times=4)
    for _ in range(3):
        _connector(merchant_keys, stripe_account).authorize(card_request())
    breaker_clock.advance(BREAKER_RESET_TIMEOUT)
    calls = len(fake_stripe.requests_to("/v1/payment_intents"))
    trial = _connector(merchant_keys, stripe_account).authorize(card_request())
    assert trial.error_code == "processor_error"  # the trial was made; its own result is returned
    assert len(fake_stripe.requests_to("/v1/payment_intents")) == calls + 1
    assert breaker_state(stripe_account.id)["state"] == "open"
    # reopened for a full reset timeout from the failed trial
    breaker_clock.advance(BREAKER_RESET_TIMEOUT - 1)
    log = len(fake_stripe.log)
    assert _connector(merchant_keys, stripe_account).authorize(card_request()).error_code == "circuit_open"
    assert len(fake_stripe.log) == log  # not called at all


def test_breakers_are_per_account(merchant_keys, fake_stripe):
    first = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    second = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=3)
    for _ in range(3):
        _connector(merchant_keys, first).authorize(card_request())
    assert _connector(merchant_keys, first).authorize(card_request()).error_code == "circuit_open"
    assert _connector(merchant_keys, second).authorize(card_request()).outcome is Outcome.SUCCEEDED


def test_operator_reset_closes_the_breaker(merchant_keys, stripe_account, fake_stripe):
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=3)
    for _ in range(3):
        _connector(merchant_keys, stripe_account).authorize(card_request())
    breaker_reset(name=stripe_account.id, merchant_id=merchant_keys.merchant_id)
    assert _connector(merchant_keys, stripe_account).authorize(card_request()).outcome is Outcome.SUCCEEDED


def test_breaker_can_be_disabled(merchant_keys, stripe_account, fake_stripe, settings):
    settings.PROCESSOR_BREAKER_ENABLED = False
    fake_stripe.inject("status", path="/v1/payment_intents", status=500, times=5)
    results = [_connector(merchant_keys, stripe_account).authorize(card_request()) for _ in range(5)]
    assert {r.error_code for r in results} == {"processor_error"}
    assert BreakerEvent.objects.count() == 0
