"""The page under the conditions customers create: double submits, two tabs, no JavaScript, a
processor whose answer comes later (the janitor), keyboard only, a 320 px phone; accessibility
(axe-core) and the card number never showing up anywhere after submit."""

import re
import subprocess

import pytest
from django.db import connection

from checkout.models import CheckoutSession
from payments.models import Payment
from payments.services import payment_sync
from sandbox.services import sandbox_fault_plan_set
from tests.checkout.conftest import assert_books_balance
from tests.events.helpers import wait_until

from .conftest import axe_violations, fill_card
from .test_pay import SUCCESS, _assert_paid, _one_payment

pytestmark = pytest.mark.slow

NO_JS = {"java_script_enabled": False}


def _tab_state(tab) -> str:
    """Where a tab stands, for a failure message: its URL, heading and status line."""
    try:
        text = " ".join(tab.inner_text("body", timeout=1000).split())[:600]
    except Exception as exc:  # navigating meanwhile
        text = f"<{type(exc).__name__}>"
    return f"{tab.url} text={text!r}"


def _served(shop, session_id: str) -> list[str]:
    """gunicorn's access-log lines for this session (request line and status)."""
    served = []
    for line in shop.stack.gunicorn_log.read_text(errors="replace").splitlines():
        parts = line.split('"')
        if session_id in line and len(parts) > 2 and parts[2].split():
            served.append(f"{parts[1]} {parts[2].split()[0]}")
    return served[-12:]


def _finished(tab) -> bool:
    try:
        return "/done?session=" in tab.url or tab.inner_text("h1", timeout=1000) == "Payment complete"
    except Exception:  # navigating meanwhile
        return False


@pytest.mark.parametrize("shop", [NO_JS], indirect=True)
def test_double_submit_without_javascript_makes_one_payment(shop):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, SUCCESS)
    # Nothing in the page stops the second click without JavaScript: the server must.
    page.evaluate("() => { const f = document.getElementById('card-form'); f.requestSubmit(); f.requestSubmit(); }")
    page.wait_for_url(re.compile(r"/done\?session="))
    shop.screenshot(page, "double-submit")
    _assert_paid(shop, session)


def test_two_tabs_pay_the_session_once(shop):
    session = shop.session()
    first, second = shop.new_page(), shop.new_page()
    for tab in (first, second):
        tab.goto(shop.page_url(session))
        fill_card(tab, SUCCESS)
    first.click("#pay-card", no_wait_after=True)
    second.click("#pay-card", no_wait_after=True)
    # The slower tab is refused by the payment's state machine and follows the other tab's
    # payment: to the success URL, or (already complete when it looks) the "Payment complete" page.
    try:
        for tab in (first, second):
            wait_until(lambda tab=tab: _finished(tab), message="both tabs finished")
    except AssertionError as exc:
        payments = list(Payment.objects.filter(metadata__checkout_session=session["id"]).values_list("id", "status"))
        row = CheckoutSession.objects.get(pk=session["id"])
        tabs = "; ".join(_tab_state(tab) for tab in (first, second))
        raise AssertionError(
            f"{exc}: tabs {tabs}; session {row.status}/{row.payment_status}; payments {payments};"
            f" console {shop.console[-10:]}; served {_served(shop, session['id'])}"
        ) from None
    shop.screenshot(second, "two-tabs-second")
    payment = _assert_paid(shop, session)
    assert payment.attempts.filter(operation="authorize").count() == 1
    # The back button after paying: no-store, so the browser asks again and sees the final state.
    first.go_back()
    first.wait_for_load_state()
    assert "Payment complete" in first.inner_text("h1") or "/done" in first.url


@pytest.mark.parametrize("shop", [NO_JS], indirect=True)
def test_without_javascript_a_late_outcome_is_followed_by_refresh(shop):
    """The processor's reply is lost (unknown outcome): the page says processing and refreshes
    itself until the janitor has asked the processor; then the customer lands on success_url."""
    session = shop.session()
    sandbox_fault_plan_set(
        merchant_id=shop.keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, SUCCESS)
    page.click("#pay-card")
    page.wait_for_url(re.compile(rf"/pay/{session['id']}$"))
    assert page.inner_text("#status") == "Processing your payment…"
    shop.screenshot(page, "no-js-processing")
    payment = _one_payment(session["id"])
    assert payment.status == "processing"
    payment_sync(payment_id=payment.id, scheduled=False)  # the janitor
    page.wait_for_url(re.compile(r"/done\?session="))
    shop.screenshot(page, "no-js-resolved")
    _assert_paid(shop, session)


def test_live_status_follows_a_payment_the_janitor_resolves(shop):
    session = shop.session()
    sandbox_fault_plan_set(
        merchant_id=shop.keys.merchant_id, count=1, mode="unknown_after_charge", operations=["authorize"]
    )
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, SUCCESS)
    page.click("#pay-card")
    page.wait_for_selector("#processing-text")
    assert page.inner_text("#status") == "Processing your payment…"
    payment = _one_payment(session["id"])
    payment_sync(payment_id=payment.id, scheduled=False)
    page.wait_for_url(re.compile(r"/done\?session="))
    _assert_paid(shop, session)


def test_keyboard_only(shop):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    page.focus("#card-number")
    # Submitting an empty form from the keyboard: errors next to the fields, focus on the first.
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "card-number"
    assert page.get_attribute("#card-number", "aria-invalid") == "true"
    assert page.get_attribute("#card-number", "aria-describedby") == "card-number-error"
    assert page.inner_text("#card-number-error") == "Enter your card number."
    assert page.is_visible("#card-cvc-error")
    shop.screenshot(page, "keyboard-errors")
    assert axe_violations(page) == []
    page.keyboard.type(SUCCESS)
    for text in ("1234", "737", "Ada Lovelace"):
        page.keyboard.press("Tab")
        page.keyboard.type(text)
    assert page.input_value("#card-expiry") == "12 / 34"
    page.keyboard.press("Tab")  # the "save card" checkbox is absent (no customer): the pay button
    assert page.evaluate("document.activeElement.id") == "pay-card"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/done\?session="))
    shop.screenshot(page, "keyboard-paid")
    _assert_paid(shop, session)


@pytest.mark.parametrize("shop", [{"viewport": {"width": 320, "height": 640}}], indirect=True)
def test_a_320_px_viewport(shop):
    session = shop.session(
        line_items=[{"description": "A very long product name that must wrap on a phone", "amount": 2500}]
    )
    page = shop.new_page()
    page.goto(shop.page_url(session))
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    for selector in ("#card-number", "#card-expiry", "#card-cvc", "#pay-card", "#pay-paypal"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, (selector, box)
    shop.screenshot(page, "viewport-320")
    assert axe_violations(page) == []
    fill_card(page, SUCCESS)
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    _assert_paid(shop, session)


def test_accessibility_of_every_page_state(shop):
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    assert axe_violations(page) == []
    fill_card(page, "4000000000000002")
    page.click("#pay-card")
    page.wait_for_selector("#alert")
    page.wait_for_load_state()  # the whole page, not the part parsed when the alert showed
    assert axe_violations(page) == []
    fill_card(page, SUCCESS)
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    page.goto(shop.page_url(session))
    assert page.inner_text("h1") == "Payment complete"
    shop.screenshot(page, "complete-page")
    assert axe_violations(page) == []
    other = shop.session()
    shop.client.post(f"/v1/checkout/sessions/{other['id']}/expire")
    page.goto(shop.page_url(other))
    assert axe_violations(page) == []


@pytest.mark.parametrize("shop", [NO_JS], indirect=True)
def test_the_card_number_never_appears_in_html_logs_or_the_database(shop, stack):
    cards = ["4000000000009995", "4000002500003155", SUCCESS]
    session = shop.session()
    page = shop.new_page()
    page.goto(shop.page_url(session))
    fill_card(page, cards[0])
    page.click("#pay-card")
    page.wait_for_load_state()  # the click waits for the next page to start loading, not to be there
    shop.keep(page)
    fill_card(page, "4242424242424241")  # fails the Luhn check: re-rendered with errors, without the number
    page.click("#pay-card")
    page.wait_for_selector("#card-number-error")  # visible (hidden on the page before)
    page.wait_for_load_state()
    shop.keep(page)
    fill_card(page, cards[1])
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/sandbox/3ds/"))
    shop.keep(page)
    page.click("button.refuse")
    page.wait_for_url(re.compile(rf"/pay/{session['id']}$"))
    shop.keep(page)
    fill_card(page, cards[2])
    page.click("#pay-card")
    page.wait_for_url(re.compile(r"/done\?session="))
    _assert_paid(shop, session)
    settings_dict = connection.settings_dict
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", settings_dict["HOST"] or "127.0.0.1", "-p", str(settings_dict["PORT"] or 5432),
         "-U", settings_dict["USER"], settings_dict["NAME"]],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "4242" in dump  # last4 is there: the dump is real
    haystacks = {"html": "\n".join(shop.pages_html), "logs": stack.log_text(), "db": dump}
    for number in [*cards, "4242424242424241"]:
        spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        for name, text in haystacks.items():
            assert number not in text and spaced not in text, (name, number)
    # nor the CVC: as a token of its own (the shop's random port, 127.0.0.1:39737, or an id may hold the digits)
    assert not re.search(r"\b737\b", "\n".join(shop.pages_html))
    assert_books_balance(shop.keys.merchant_id)
    assert CheckoutSession.objects.get(pk=session["id"]).status == "complete"
    assert Payment.objects.count() == 1
