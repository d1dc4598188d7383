"""Reconciliation fixtures: sandbox payments made through the API (the sandbox books them in its own
tables, as a processor would), today's UTC day as the period, the sandbox's settlement clock, and
the two ways to reconcile (the command, and the services for the merchant's sandbox account)."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from merchants.models import Merchant
from payments.models import Payment, Refund
from reconciliation.models import ReconciliationItem, ReconciliationRun
from reconciliation.periods import day_start
from reconciliation.services import account_scope, reconcile, settlement_fetch
from sandbox.models import SandboxCharge

CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "737"}}


@pytest.fixture
def merchant(merchant_keys) -> Merchant:
    return Merchant.objects.get(id=merchant_keys.merchant_id)


@pytest.fixture
def today() -> str:
    return datetime.now(tz=UTC).date().isoformat()


@pytest.fixture
def period():
    start = day_start(datetime.now(tz=UTC).date())
    return start, start + timedelta(days=1)


@pytest.fixture
def sandbox_clock(monkeypatch):
    """Moves the time the sandbox's settlement sees (which days are over, which payouts arrived)."""

    def move(to: datetime) -> None:
        monkeypatch.setattr("sandbox.settlement.clock", lambda: to)

    return move


@pytest.fixture
def pay(secret_client):
    """A confirmed sandbox card payment of ``amount``, captured unless ``capture_method="manual"``;
    with ``at``, made then on both sides (its row and the sandbox's charge). Returns its row."""

    def pay(
        amount: int = 2000, currency: str = "usd", *, capture_method: str | None = None, at: datetime | None = None
    ) -> Payment:
        body = {"amount": amount, "currency": currency, "payment_method": CARD, "confirm": True}
        if capture_method:
            body["capture_method"] = capture_method
        response = secret_client.post("/v1/payments", body, format="json")
        assert response.status_code == 201, response.content
        payment = Payment.objects.get(pk=response.json()["id"])
        if at is not None:
            # An automatic capture settled then too; a manual one is not captured yet.
            captured_at = at if payment.capture_method == "automatic" else None
            SandboxCharge.objects.filter(id=payment.processor_reference).update(created=at, captured_at=captured_at)
            Payment.objects.filter(pk=payment.pk).update(created=at)
            payment.refresh_from_db()
        return payment

    return pay


@pytest.fixture
def refund(secret_client):
    def refund(payment: Payment, amount: int) -> Refund:
        response = secret_client.post("/v1/refunds", {"payment": payment.id, "amount": amount}, format="json")
        assert response.status_code == 201, response.content
        return Refund.objects.get(pk=response.json()["id"])

    return refund


def run_reconcile(*args: str) -> tuple[int, str]:
    """``manage.py reconcile`` -> (exit code, stdout)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("reconcile", *args, stdout=out, stderr=err)
    except SystemExit as exit_:  # pragma: no cover - call_command raises CommandError instead
        return int(exit_.code or 0), out.getvalue()
    except Exception as error:  # CommandError: what manage.py turns into exit status 1
        from django.core.management.base import CommandError

        if isinstance(error, CommandError):
            return error.returncode, out.getvalue() + str(error)
        raise
    return 0, out.getvalue()


def reconcile_json(*args: str) -> tuple[int, dict]:
    code, out = run_reconcile(*args, "--json")
    return code, json.loads(out[: out.rindex("}") + 1])


def reconcile_sandbox(merchant: Merchant, period: tuple[datetime, datetime]) -> ReconciliationRun:
    """The merchant's sandbox account reconciled over ``period`` through the services (no command)."""
    scope = account_scope(merchant_id=merchant.id)
    start, end = period
    return reconcile(scope=scope, start=start, end=end, report=settlement_fetch(scope=scope, start=start, end=end))


def items(classification: str) -> list[ReconciliationItem]:
    return list(ReconciliationItem.objects.filter(classification=classification))
