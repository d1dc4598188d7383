"""Processor accounts (credentials encrypted at rest) and routing."""

import pytest
from django.db import connection

from gateway.errors import InvalidRequest, NotFound
from processors.base import Outcome
from processors.breakers import GuardedConnector
from processors.models import ProcessorAccount
from processors.selectors import SANDBOX_ACCOUNT_ID, connector_for_account, route_for
from processors.services import processor_account_create, processor_route_set

from .conftest import only_held_call_times_out, paypal_account_for, stripe_account_for
from .factories import ProcessorRouteFactory, card_request

pytestmark = pytest.mark.django_db


def test_credentials_are_encrypted_at_rest(merchant_keys, fake_stripe):
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM processors_processoraccount WHERE id = %s", [account.id])
        row_text = " ".join(str(value) for value in cursor.fetchone())
    assert fake_stripe.secret_key not in row_text and fake_stripe.webhook_secret not in row_text
    assert account.credentials_encrypted.startswith("v1.")
    connector = connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=account.id)
    assert connector.config["secret_key"] == fake_stripe.secret_key


def test_credentials_are_validated(merchant_keys):
    with pytest.raises(InvalidRequest):
        processor_account_create(
            merchant_id=merchant_keys.merchant_id, processor="stripe", display_name="x", credentials={}
        )
    with pytest.raises(InvalidRequest):
        processor_account_create(
            merchant_id=merchant_keys.merchant_id,
            processor="paypal",
            display_name="x",
            credentials={"client_id": "a", "client_secret": "b", "password": "c"},
        )
    assert ProcessorAccount.objects.count() == 0


def test_no_routes_means_the_sandbox(merchant_keys):
    [entry] = route_for(merchant_id=merchant_keys.merchant_id, payment_method_type="card", currency="USD")
    assert (entry.account_id, entry.processor) == (SANDBOX_ACCOUNT_ID, "sandbox")
    assert isinstance(entry.connector, GuardedConnector)


def test_route_order_currency_specific_first(merchant_keys, fake_stripe, fake_paypal):
    merchant_id = merchant_keys.merchant_id
    generic_a = stripe_account_for(merchant_id, fake_stripe)
    generic_b = stripe_account_for(merchant_id, fake_stripe)
    eur_only = stripe_account_for(merchant_id, fake_stripe)
    paypal = paypal_account_for(merchant_id, fake_paypal)
    processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[generic_a.id, generic_b.id])
    processor_route_set(
        merchant_id=merchant_id, payment_method_type="card", currency="eur", account_ids=[eur_only.id, generic_b.id]
    )
    processor_route_set(merchant_id=merchant_id, payment_method_type="paypal", account_ids=[paypal.id])

    eur = [e.account_id for e in route_for(merchant_id=merchant_id, payment_method_type="card", currency="EUR")]
    usd = [e.account_id for e in route_for(merchant_id=merchant_id, payment_method_type="card", currency="USD")]
    pp = route_for(merchant_id=merchant_id, payment_method_type="paypal", currency="USD")
    assert eur == [eur_only.id, generic_b.id, generic_a.id]  # each account once
    assert usd == [generic_a.id, generic_b.id]
    assert [(e.account_id, e.processor) for e in pp] == [(paypal.id, "paypal")]


def test_inactive_accounts_are_skipped_but_still_reachable_for_follow_ups(merchant_keys, fake_stripe):
    merchant_id = merchant_keys.merchant_id
    first = stripe_account_for(merchant_id, fake_stripe)
    second = stripe_account_for(merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_id, payment_method_type="card", account_ids=[first.id, second.id])
    ProcessorAccount.objects.filter(id=first.id).update(is_active=False)
    assert [e.account_id for e in route_for(merchant_id=merchant_id, payment_method_type="card", currency="USD")] == [
        second.id
    ]
    assert connector_for_account(merchant_id=merchant_id, account_id=first.id).account_id == first.id


def test_configured_routes_never_fall_back_to_the_sandbox(merchant_keys, fake_stripe):
    merchant_id = merchant_keys.merchant_id
    only = stripe_account_for(merchant_id, fake_stripe)
    processor_route_set(merchant_id=merchant_id, payment_method_type="card", currency="EUR", account_ids=[only.id])
    assert route_for(merchant_id=merchant_id, payment_method_type="card", currency="USD") == []


def test_another_merchants_account_is_not_found(merchant_keys, other_merchant_keys, fake_stripe):
    theirs = stripe_account_for(other_merchant_keys.merchant_id, fake_stripe)
    with pytest.raises(LookupError):
        connector_for_account(merchant_id=merchant_keys.merchant_id, account_id=theirs.id)
    with pytest.raises(NotFound):
        processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[theirs.id])


def test_routed_connector_reaches_the_processor_with_its_timeouts(merchant_keys, fake_stripe, settings):
    settings.PROCESSOR_READ_TIMEOUT = 60.0  # the gateway default, were the account's ignored
    account = stripe_account_for(merchant_keys.merchant_id, fake_stripe, read_timeout=0.5)
    processor_route_set(merchant_id=merchant_keys.merchant_id, payment_method_type="card", account_ids=[account.id])
    [entry] = route_for(merchant_id=merchant_keys.merchant_id, payment_method_type="card", currency="USD")
    fake_stripe.inject("hold", path="/v1/payment_intents")  # no reply until the client has given up
    with only_held_call_times_out(path="/v1/payment_intents"):  # not the PaymentMethod call before it
        result = entry.connector.authorize(card_request())
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "timeout")
    assert result.message == "stripe: no reply within 0.5 s"  # the account's read timeout, not the default
    assert result.latency_ms >= 450  # the read timeout was waited for, and recorded
    fake_stripe.release()


def test_factories_build_routes_in_priority_order(db):
    first = ProcessorRouteFactory(priority=2)
    second = ProcessorRouteFactory(account__merchant=first.merchant, priority=1, account__processor="paypal")
    entries = route_for(merchant_id=first.merchant_id, payment_method_type="card", currency="USD")
    assert [e.account_id for e in entries] == [second.account_id, first.account_id]
    assert [e.processor for e in entries] == ["paypal", "stripe"]
