import uuid

import pytest

from gateway.ids import new_id
from merchants.services import merchant_settings_set
from processors.base import AuthorizeRequest, CardDetails
from sandbox.connector import SandboxConnector

RETURN_URL = "https://shop.example/checkout/return?order=42"


def card(number: str = "4242424242424242", *, exp_month: int = 12, exp_year: int = 2034, cvc: str = "123"):
    return CardDetails(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)


def authorize_request(
    *,
    number: str = "4242424242424242",
    amount: int = 1000,
    currency: str = "USD",
    capture: bool = True,
    reference: str | None = None,
    payment_method_type: str = "card",
    return_url: str = RETURN_URL,
    **card_fields,
) -> AuthorizeRequest:
    return AuthorizeRequest(
        reference=reference or new_id("att"),
        amount=amount,
        currency=currency,
        capture=capture,
        payment_method_type=payment_method_type,
        return_url=return_url,
        card=card(number, **card_fields) if payment_method_type == "card" else None,
    )


def set_sandbox_options(merchant_id: str, **options) -> None:
    """Per-merchant failure injection, as an operator would set it in admin."""
    merchant_settings_set(merchant_id=merchant_id, settings={"sandbox": options})


@pytest.fixture
def merchant_id(merchant_keys) -> str:
    return merchant_keys.merchant_id


@pytest.fixture
def sandbox(merchant_id):
    """The sandbox connector as the registry builds it (without the processors app's breaker wrapper)."""
    return SandboxConnector(account_id="sandbox", config={"merchant_id": merchant_id})


@pytest.fixture
def reference() -> str:
    return f"att_{uuid.uuid4().hex}"
