"""The sandbox's disputed card (4000 0000 0000 0259) and the disputes API."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEntry
from disputes.models import Dispute
from disputes.state import TRANSITIONS, transition_allowed
from ledger.selectors import journal_entries_for_payment, ledger_problems
from payments.models import Payment
from sandbox.disputes import sandbox_disputes_deliver
from sandbox.models import SandboxDispute

pytestmark = pytest.mark.django_db

DISPUTED_CARD = "4000000000000259"


def _pay(client, number: str = DISPUTED_CARD, amount: int = 4200, capture_method: str = "automatic") -> dict:
    response = client.post(
        "/v1/payments",
        {
            "amount": amount,
            "currency": "eur",
            "confirm": True,
            "capture_method": capture_method,
            "payment_method": {
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _deliver(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return sandbox_disputes_deliver(now=timezone.now() + timedelta(hours=1))


def test_the_disputed_card_succeeds_then_a_dispute_opens_and_is_won(
    secret_client, ledger, django_capture_on_commit_callbacks
):
    # Given a payment with the disputed test card: it succeeds like any card
    body = _pay(secret_client)
    assert body["status"] == "succeeded" and body["disputed"] is False
    [sandbox_dispute] = SandboxDispute.objects.all()
    assert (sandbox_dispute.amount, sandbox_dispute.status, sandbox_dispute.delivered_at) == (
        4200,
        "needs_response",
        None,
    )

    # When the sandbox delivers it (as a processor's webhook would: later, once)
    assert sandbox_disputes_deliver(now=timezone.now() - timedelta(hours=1)) == 0  # not due yet
    assert _deliver(django_capture_on_commit_callbacks) == 1
    assert _deliver(django_capture_on_commit_callbacks) == 0

    # Then the gateway has the dispute on the payment and the books withdrew amount and fee
    [dispute] = Dispute.objects.all()
    assert (dispute.payment_id, dispute.amount, dispute.currency, dispute.fee, dispute.status) == (
        body["id"],
        4200,
        "EUR",
        1500,
        "needs_response",
    )
    assert [(w["amount"], w["fee"]) for w in ledger.withdrawals] == [(4200, 1500)]
    [withdrawn] = journal_entries_for_payment(payment_id=body["id"], merchant_id=dispute.merchant_id)[1:]
    assert (withdrawn.kind, withdrawn.amount, withdrawn.currency) == ("dispute", 4200 + 1500, "EUR")
    assert ledger_problems(merchant_id=dispute.merchant_id) == []
    shown = secret_client.get(f"/v1/disputes/{dispute.id}").json()
    assert (shown["object"], shown["payment"], shown["status"], shown["funds_withdrawn"]) == (
        "dispute",
        body["id"],
        "needs_response",
        True,
    )

    # When an operator decides it won (manage.py sandbox_dispute_close), one audited command
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sandbox_dispute_close", sandbox_dispute.id, outcome="won")
    dispute.refresh_from_db()
    assert dispute.status == "won" and [r["amount"] for r in ledger.reinstatements] == [4200]
    kinds = [e.kind for e in journal_entries_for_payment(payment_id=body["id"], merchant_id=dispute.merchant_id)]
    assert kinds == ["capture", "dispute", "dispute_reversal"]
    assert ledger_problems(merchant_id=dispute.merchant_id) == []
    [entry] = AuditEntry.objects.filter(action="command.sandbox_dispute_close")
    assert entry.source == "command" and entry.after["options"]["outcome"] == "won"
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.disputed, payment.amount_disputed) == (False, 0)


def test_a_manual_capture_disputes_only_once_captured(secret_client, ledger, django_capture_on_commit_callbacks):
    body = _pay(secret_client, capture_method="manual")
    assert body["status"] == "requires_capture" and not SandboxDispute.objects.exists()
    secret_client.post(f"/v1/payments/{body['id']}/capture", {"amount_to_capture": 4000}, format="json")
    [sandbox_dispute] = SandboxDispute.objects.all()
    assert sandbox_dispute.amount == 4000


def test_other_cards_are_never_disputed(secret_client):
    _pay(secret_client, number="4242424242424242")
    assert not SandboxDispute.objects.exists()


def test_disputes_api_lists_with_filters_and_isolates_tenants(
    secret_client, other_merchant_keys, ledger, django_capture_on_commit_callbacks
):
    first, second = _pay(secret_client), _pay(secret_client, amount=100)
    _deliver(django_capture_on_commit_callbacks)
    closing = SandboxDispute.objects.get(charge__amount=100)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sandbox_dispute_close", closing.id, outcome="lost")

    listed = secret_client.get("/v1/disputes").json()
    assert listed["object"] == "list" and {d["payment"] for d in listed["data"]} == {first["id"], second["id"]}
    by_payment = secret_client.get("/v1/disputes", {"payment": first["id"]}).json()["data"]
    assert [d["payment"] for d in by_payment] == [first["id"]]
    lost = secret_client.get("/v1/disputes", {"status": "lost"}).json()["data"]
    assert [d["payment"] for d in lost] == [second["id"]]
    page = secret_client.get("/v1/disputes", {"limit": 1}).json()
    assert len(page["data"]) == 1 and page["has_more"] is True
    bad = secret_client.get("/v1/disputes", {"status": "open"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"
    empty = secret_client.get("/v1/disputes?status=")  # an empty value is not absent (found by Schemathesis)
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "status"

    # Another merchant sees none of it: a 404, and an empty list
    other = other_merchant_keys.client()
    dispute_id = by_payment[0]["id"]
    missing = other.get(f"/v1/disputes/{dispute_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    assert other.get("/v1/disputes").json()["data"] == []
    assert secret_client.get("/v1/disputes/dp_nope").status_code == 404


def test_the_dispute_state_table_is_explicit_and_closed_states_are_final():
    for final in ("won", "lost", "warning_closed"):
        assert TRANSITIONS[final] == frozenset()
        assert not transition_allowed(final, "needs_response")
    assert transition_allowed(None, "lost")  # first sight may already be closed
    assert transition_allowed("needs_response", "under_review") and not transition_allowed("needs_response", "bogus")
    assert not transition_allowed("under_review", "warning_needs_response")
