"""A signed-in customer saves a card on the hosted page, pays with it later, and the merchant
charges it off session through the API."""

import re

import pytest

from payments.models import PaymentMethod
from tests.customers.factories import CustomerFactory

from .conftest import fill_card
from .test_pay import SUCCESS, THREE_DS, _assert_paid

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def _sign_in(page):
    page.wait_for_load_state()  # is_visible does not wait: the whole page must be there
    if not page.is_visible("#login-email"):  # the form stays open after a failed attempt
        page.click("summary")
    page.fill("#login-email", "ada@example.com")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#logout")


def test_save_a_card_pay_with_it_again_and_charge_it_off_session(shop):
    customer = CustomerFactory(merchant_id=shop.keys.merchant_id, email="ada@example.com", password=PASSWORD)
    first = shop.session(customer=customer.id)
    page = shop.new_page()
    page.goto(shop.page_url(first))
    page.click("summary")
    page.fill("#login-email", "ada@example.com")
    page.fill("#login-password", "wrong password 123")
    page.click("#login-submit")
    assert "incorrect" in page.inner_text("#login-error")
    _sign_in(page)
    fill_card(page, SUCCESS)
    page.check("#save-card")
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    _assert_paid(shop, first)
    saved = PaymentMethod.objects.get(customer_id=customer.id)
    assert saved.card_last4 == "4242" and saved.vault_token

    second = shop.session(customer=customer.id, amount=1200, line_items=[{"description": "Black tea", "amount": 1200}])
    page.goto(shop.page_url(second))
    assert "Visa ending in 4242" in page.inner_text("#saved-form")
    shop.screenshot(page, "saved-card-choice")
    page.click("#pay-saved")
    page.wait_for_url(re.compile(r"/done\?session="))
    assert _assert_paid(shop, second).payment_method_id == saved.id

    # Merchant-initiated, customer away: the saved card, off_session.
    charged = shop.client.post(
        "/v1/payments",
        {"amount": 900, "currency": "usd", "customer": customer.id, "payment_method": saved.id,
         "confirm": True, "off_session": True},
        format="json",
    )  # fmt: skip
    assert charged.status_code == 201, charged.content
    assert charged.json()["status"] == "succeeded"


def test_off_session_refuses_a_card_that_asks_for_authentication(shop):
    customer = CustomerFactory(merchant_id=shop.keys.merchant_id, email="ada@example.com", password=PASSWORD)
    session = shop.session(customer=customer.id)
    page = shop.new_page()
    page.goto(shop.page_url(session))
    _sign_in(page)
    fill_card(page, THREE_DS)
    page.check("#save-card")
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/sandbox/3ds/"))
    page.click("button.approve")
    page.wait_for_url(re.compile(r"/done\?session="))
    _assert_paid(shop, session)
    saved = PaymentMethod.objects.get(customer_id=customer.id)
    refused = shop.client.post(
        "/v1/payments",
        {"amount": 900, "currency": "usd", "customer": customer.id, "payment_method": saved.id,
         "confirm": True, "off_session": True},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 402, refused.content
    error = refused.json()["error"]
    assert error["code"] == "authentication_required" and error["payment"]["status"] == "canceled"
