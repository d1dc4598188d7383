"""Paying on the hosted page in Chromium: cards, declines, 3-D Secure, PayPal, cancel, expiry.

Each scenario asserts what the customer sees and what the database holds afterwards: one
payment for the session, the books balanced, the merchant's webhook delivered."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.models import CheckoutSession
from orders.models import Order
from payments.models import Payment
from tests.checkout.conftest import assert_books_balance
from tests.customers.factories import CustomerFactory
from tests.orders.factories import OrderFactory

from .conftest import fill_card

pytestmark = pytest.mark.slow

SUCCESS, INSUFFICIENT_FUNDS, THREE_DS = "4242424242424242", "4000000000009995", "4000002500003155"


def _one_payment(session_id: str) -> Payment:
    row = CheckoutSession.objects.get(pk=session_id)
    payments = list(Payment.objects.filter(metadata__checkout_session=session_id))
    assert len(payments) == 1, payments
    assert row.payment_id == payments[0].id
    return payments[0]


def _assert_paid(shop, session: dict) -> Payment:
    row = CheckoutSession.objects.get(pk=session["id"])
    assert (row.status, row.payment_status) == ("complete", "paid")
    payment = _one_payment(session["id"])
    assert payment.status == "succeeded" and payment.amount_received == session["amount_total"]
    assert_books_balance(shop.keys.merchant_id)
    completed = shop.wait_for_event("checkout.session.completed", session["id"])
    assert completed["data"]["object"]["payment"] == payment.id
    assert completed["data"]["object"]["payment_status"] == "paid"
    return payment


def test_pay_with_4242_lands_on_success_url_with_the_order_paid(shop):
    customer = CustomerFactory(merchant_id=shop.keys.merchant_id, email="ada@example.com")
    order = OrderFactory(
        customer=customer, lines=[{"sku": "TEA", "name": "Green tea", "quantity": 2, "unit_amount": 1250}]
    )
    session = shop.session(order=order.id)
    page = shop.new_page()
    page.goto(shop.page_url(session))
    assert page.title() == "Pay Tea House"
    assert page.inner_text("#total") == "$25.00"
    assert "Green tea" in page.inner_text(".summary")
    fill_card(page, SUCCESS)
    assert page.inner_text("#card-brand") == "Visa"
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session=cs_"))
    assert page.inner_text("h1") == "Thank you for your order"
    assert page.inner_text("#path") == f"/done?session={session['id']}"
    shop.screenshot(page, "pay-4242-success")
    _assert_paid(shop, session)
    order.refresh_from_db()
    assert order.status == "paid" and order.amount_paid == 2500
    shop.wait_for_event("order.paid", order.id)
    assert not [line for line in shop.console if "Content Security Policy" in line], shop.console


def test_decline_stays_on_the_page_then_another_card_succeeds(shop):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, INSUFFICIENT_FUNDS)
    page.click("#pay-card")
    page.wait_for_selector("#alert")
    assert "insufficient funds" in page.inner_text("#alert").lower()
    page.wait_for_load_state()  # the page's script moves the focus once the document is parsed
    assert page.evaluate("document.activeElement.id") == "alert"
    assert page.input_value("#card-number") == ""  # the number is never sent back
    shop.screenshot(page, "decline-message")
    payment = _one_payment(session["id"])
    assert payment.status == "requires_payment_method" and payment.decline_count == 1
    fill_card(page, "5555555555554444")
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    shop.screenshot(page, "decline-then-success")
    paid = _assert_paid(shop, session)
    assert paid.id == payment.id and paid.card_last4 == "4444"


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "fail"])
def test_three_d_secure_goes_to_the_challenge_and_comes_back(shop, approve):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, THREE_DS)
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/sandbox/3ds/"))
    page.click("button.approve" if approve else "button.refuse")
    if approve:
        page.wait_for_url(re.compile(r"/done\?session="))
        shop.screenshot(page, "3ds-approve")
        _assert_paid(shop, session)
        return
    page.wait_for_url(re.compile(rf"/pay/{session['id']}$"))
    assert "could not authenticate" in page.inner_text("#alert")
    shop.screenshot(page, "3ds-fail")
    payment = _one_payment(session["id"])
    assert payment.status == "requires_payment_method"
    assert CheckoutSession.objects.get(pk=session["id"]).status == "open"
    assert_books_balance(shop.keys.merchant_id)


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "cancel"])
def test_paypal_approval_and_cancel(shop, approve):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    page.click("#pay-paypal")
    page.wait_for_url(re.compile(r"/sandbox/paypal/"))
    page.click("button.approve" if approve else "button.refuse")
    if approve:
        page.wait_for_url(re.compile(r"/done\?session="))
        shop.screenshot(page, "paypal-approve")
        assert _assert_paid(shop, session).payment_method_type == "paypal"
        return
    page.wait_for_url(re.compile(rf"/pay/{session['id']}$"))
    assert "PayPal payment was cancelled" in page.inner_text("#alert")
    assert page.is_visible("#card-form") and page.is_visible("#pay-paypal")
    shop.screenshot(page, "paypal-cancel")
    # ... and the customer pays by card instead: still the session's one payment.
    fill_card(page, SUCCESS)
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    assert _assert_paid(shop, session).payment_method_type == "card"


def test_cancel_link_goes_to_cancel_url_and_leaves_the_session_open(shop):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    page.click("#cancel-link")
    page.wait_for_url(f"{shop.stack.site.base}/cart")
    assert page.inner_text("h1") == "Your cart"
    shop.screenshot(page, "cancel-link")
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "open" and row.payment_id is None
    assert not Payment.objects.filter(merchant_id=shop.keys.merchant_id).exists()


def test_expired_session_shows_a_clear_page(shop):
    session = shop.session()
    # The clock moved past expires_at (a test does not wait 30 minutes): expiry on read.
    CheckoutSession.objects.filter(pk=session["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = shop.new_page()
    response = page.goto(shop.page_url(session))
    assert response.status == 410
    assert page.inner_text("h1") == "This checkout has expired"
    assert page.get_attribute("#return-link", "href") == f"{shop.stack.site.base}/cart"
    assert page.query_selector("#card-form") is None
    shop.screenshot(page, "expired")
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "expired" and row.payment_id is None
    shop.wait_for_event("checkout.session.expired", session["id"])
    assert Order.objects.count() == 0 and not Payment.objects.exists()
