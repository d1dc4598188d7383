"""The order shows its payments' disputes: ``amount_disputed`` on the order (API, /v1/me/orders,
``order.updated``), set in the dispute's transaction with the order locked first; the order's
status does not change (a dispute is not a state)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from disputes.models import Dispute
from events.models import Event
from ledger.selectors import journal_entries_for_payment, ledger_problems
from orders.models import Order
from sandbox.disputes import sandbox_disputes_deliver
from sandbox.models import SandboxDispute
from tests.customers.helpers import customer_client
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

DISPUTED_CARD = "4000000000000259"


def _card(number: str) -> dict:
    return {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}


def _deliver(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return sandbox_disputes_deliver(now=timezone.now() + timedelta(hours=1))


def _order_events(order_id: str) -> list[dict]:
    events = Event.objects.filter(type="order.updated").order_by("id")
    return [e.data["object"] for e in events if e.data["object"]["id"] == order_id]


def test_a_dispute_shows_on_the_order_and_its_win_clears_it(
    secret_client, merchant_keys, django_capture_on_commit_callbacks
):
    # Given a customer's paid order (paid with the disputed test card), read once through the API
    # (so its representation is cached) and by the customer
    me = customer_client(merchant_keys=merchant_keys, email="me@example.com")
    customer = Customer.objects.get(id=me.customer_id)
    order = OrderFactory(customer=customer, lines=[{"sku": "TEA", "quantity": 2, "unit_amount": 1500}])
    paid = secret_client.post(
        "/v1/payments", {"order": order.id, "payment_method": _card(DISPUTED_CARD), "confirm": True}, format="json"
    )
    assert paid.status_code == 201, paid.content
    payment_id = paid.json()["id"]
    before = secret_client.get(f"/v1/orders/{order.id}").json()
    assert (before["status"], before["amount_paid"], before["amount_disputed"]) == ("paid", 3000, 0)
    assert me.get(f"/v1/me/orders/{order.id}").json()["amount_disputed"] == 0
    events_before = len(_order_events(order.id))

    # When the processor opens a dispute on its payment
    assert _deliver(django_capture_on_commit_callbacks) == 1

    # Then the order shows it (database, API past its cache, the customer's view, one event), its
    # status unchanged, and the books withdrew it
    order.refresh_from_db()
    assert (order.status, order.amount_paid, order.amount_disputed) == ("paid", 3000, 3000)
    shown = secret_client.get(f"/v1/orders/{order.id}").json()
    assert (shown["status"], shown["amount_disputed"]) == ("paid", 3000)
    assert [o["amount_disputed"] for o in me.get("/v1/me/orders").json()["data"]] == [3000]
    events = _order_events(order.id)[events_before:]
    assert [(e["status"], e["amount_disputed"]) for e in events] == [("paid", 3000)]
    merchant_id = order.merchant_id
    kinds = [e.kind for e in journal_entries_for_payment(payment_id=payment_id, merchant_id=merchant_id)]
    assert kinds == ["capture", "dispute"]
    assert ledger_problems(merchant_id=merchant_id) == []

    # When the same dispute is read again unchanged, nothing more is written on the order
    [dispute] = Dispute.objects.all()
    from disputes.services import dispute_sync

    with django_capture_on_commit_callbacks(execute=True):
        dispute_sync(
            merchant_id=merchant_id,
            processor_account_id=dispute.processor_account_id,
            dispute_reference=dispute.processor_reference,
        )
    assert len(_order_events(order.id)) == events_before + 1

    # When the merchant wins it, the order shows nothing held back any more, still paid
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sandbox_dispute_close", SandboxDispute.objects.get().id, outcome="won")
    order.refresh_from_db()
    assert (order.status, order.amount_disputed) == ("paid", 0)
    assert secret_client.get(f"/v1/orders/{order.id}").json()["amount_disputed"] == 0
    assert [e["amount_disputed"] for e in _order_events(order.id)[events_before:]] == [3000, 0]
    kinds = [e.kind for e in journal_entries_for_payment(payment_id=payment_id, merchant_id=merchant_id)]
    assert kinds == ["capture", "dispute", "dispute_reversal"]
    assert ledger_problems(merchant_id=merchant_id) == []


def test_the_database_refuses_more_disputed_than_paid(merchant_keys):
    order = OrderFactory(merchant_id=merchant_keys.merchant_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(amount_disputed=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(amount_disputed=-1)


def test_the_order_schema_documents_amount_disputed(secret_client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for name in ("Order", "CustomerOrder"):
        properties = schema["components"]["schemas"][name]["properties"]
        assert properties["amount_disputed"]["type"] == "integer"
