"""Reconciliation fixtures: sandbox payments made through the API (the sandbox books them in its own
tables, as a processor would), today's UTC day as the period, and the command runner."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from merchants.models import Merchant
from payments.models import Payment, Refund
from reconciliation.periods import day_start

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
def pay(secret_client):
    """A captured sandbox card payment of ``amount``; returns its row."""

    def pay(amount: int = 2000, currency: str = "usd") -> Payment:
        response = secret_client.post(
            "/v1/payments",
            {"amount": amount, "currency": currency, "payment_method": CARD, "confirm": True},
            format="json",
        )
        assert response.status_code == 201, response.content
        return Payment.objects.get(pk=response.json()["id"])

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
