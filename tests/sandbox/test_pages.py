"""3-D Secure challenge and PayPal approval pages, driven like a browser (CSRF enforced)."""

import re

import pytest
from django.test import Client

from processors.base import Outcome
from sandbox.models import SandboxCharge

from .conftest import RETURN_URL, authorize_request
from .factories import SandboxChargeFactory

pytestmark = pytest.mark.django_db

THREE_DS_CARD = "4000002500003155"


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def open_page(browser: Client, url: str) -> tuple[str, str]:
    """GET the page; return its HTML and the form's CSRF token."""
    response = browser.get(path_of(url))
    assert response.status_code == 200
    html = response.content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return html, token.group(1) if token else ""


def answer(browser: Client, url: str, result: str):
    _, token = open_page(browser, url)
    return browser.post(path_of(url), {"result": result, "csrfmiddlewaretoken": token})


# --- 3-D Secure ---------------------------------------------------------------------------------


def test_challenge_page_shows_the_payment_but_not_the_card(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD, amount=2599, currency="EUR"))

    html, token = open_page(browser, started.redirect_url)

    assert "Complete authentication" in html and "Fail authentication" in html
    assert "25.99 EUR" in html
    assert "3155" in html
    assert THREE_DS_CARD not in html and "400000250000" not in html
    assert token


@pytest.mark.parametrize(
    ("capture", "raw_status", "captured"), [(True, "succeeded", 2000), (False, "requires_capture", 0)]
)
def test_completed_challenge_lets_complete_authorize_or_capture(sandbox, browser, capture, raw_status, captured):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD, amount=2000, capture=capture))
    ref = started.processor_reference
    before = sandbox.complete(reference="att", processor_reference=ref, capture=capture)

    response = answer(browser, started.redirect_url, "complete")

    assert before.outcome == Outcome.REQUIRES_ACTION  # nothing happens until the customer answers
    assert (response.status_code, response["Location"]) == (302, RETURN_URL)
    assert SandboxCharge.objects.get(id=ref).action == "approved"
    result = sandbox.complete(reference="att", processor_reference=ref, capture=capture)
    assert result.outcome == Outcome.SUCCEEDED
    assert (result.raw_status, result.amount_authorized, result.amount_captured) == (raw_status, 2000, captured)
    charge = SandboxCharge.objects.get(id=ref)
    assert (charge.status, charge.amount_captured) == (raw_status, captured)
    replay = sandbox.complete(reference="att", processor_reference=ref, capture=capture)
    assert (replay.outcome, replay.amount_captured) == (Outcome.SUCCEEDED, captured)


def test_authenticated_then_manually_captured_in_part(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD, amount=2000, capture=False))
    answer(browser, started.redirect_url, "complete")
    sandbox.complete(reference="att", processor_reference=started.processor_reference, capture=False)

    result = sandbox.capture(
        reference="cap", processor_reference=started.processor_reference, amount=1500, currency="USD"
    )

    assert (result.outcome, result.amount_captured) == (Outcome.SUCCEEDED, 1500)


def test_failed_challenge_declines(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD))

    response = answer(browser, started.redirect_url, "fail")
    result = sandbox.complete(reference="att", processor_reference=started.processor_reference, capture=True)

    assert (response.status_code, response["Location"]) == (302, RETURN_URL)
    assert result.outcome == Outcome.DECLINED
    assert (result.decline_code, result.error_code) == ("authentication_failed", "authentication_required")
    charge = SandboxCharge.objects.get(id=started.processor_reference)
    assert (charge.status, charge.action, charge.amount_authorized) == ("declined", "failed", 0)
    status = sandbox.status(reference="", processor_reference=started.processor_reference)
    assert (status.outcome, status.decline_code) == (Outcome.DECLINED, "authentication_failed")


def test_the_first_answer_stands(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD))
    _, token = open_page(browser, started.redirect_url)
    browser.post(path_of(started.redirect_url), {"result": "fail", "csrfmiddlewaretoken": token})

    html, _ = open_page(browser, started.redirect_url)
    response = browser.post(path_of(started.redirect_url), {"result": "complete", "csrfmiddlewaretoken": token})

    assert "Authentication failed" in html and "Complete authentication" not in html
    assert response.status_code == 302
    assert SandboxCharge.objects.get(id=started.processor_reference).status == "declined"


def test_post_without_csrf_token_is_refused(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD))

    response = browser.post(path_of(started.redirect_url), {"result": "complete"})

    assert response.status_code == 403
    assert SandboxCharge.objects.get(id=started.processor_reference).action == "pending"


def test_unknown_choice_is_a_400_and_changes_nothing(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD))

    response = answer(browser, started.redirect_url, "maybe")

    assert response.status_code == 400
    assert SandboxCharge.objects.get(id=started.processor_reference).action == "pending"


def test_unknown_charge_is_a_404(browser):
    assert browser.get("/sandbox/3ds/sbch_doesnotexist").status_code == 404
    assert browser.get("/sandbox/paypal/sbpo_doesnotexist").status_code == 404


def test_pages_do_not_serve_the_other_kind(sandbox, browser):
    card = sandbox.authorize(authorize_request(number=THREE_DS_CARD))
    paypal = sandbox.authorize(authorize_request(payment_method_type="paypal"))

    assert browser.get(f"/sandbox/paypal/{card.processor_reference}").status_code == 404
    assert browser.get(f"/sandbox/3ds/{paypal.processor_reference}").status_code == 404


def test_a_non_http_return_url_is_not_followed(browser):
    charge = SandboxChargeFactory(return_url="javascript:alert(1)")
    url = f"/sandbox/3ds/{charge.id}"

    response = answer(browser, url, "complete")

    assert response.status_code == 200
    assert "javascript:" not in response.content.decode()
    charge.refresh_from_db()
    assert charge.action == "approved"


def test_pages_are_not_cached(sandbox, browser):
    started = sandbox.authorize(authorize_request(number=THREE_DS_CARD))

    response = browser.get(path_of(started.redirect_url))

    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


# --- PayPal ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capture", "raw_status", "captured"), [(True, "succeeded", 4200), (False, "requires_capture", 0)]
)
def test_paypal_approval_then_complete(sandbox, browser, capture, raw_status, captured):
    started = sandbox.authorize(authorize_request(payment_method_type="paypal", amount=4200, capture=capture))

    html, _ = open_page(browser, started.redirect_url)
    response = answer(browser, started.redirect_url, "approve")
    result = sandbox.complete(reference="att", processor_reference=started.processor_reference, capture=capture)

    assert "Approve payment" in html and "42.00 USD" in html
    assert (response.status_code, response["Location"]) == (302, RETURN_URL)
    assert (result.outcome, result.raw_status, result.amount_captured) == (Outcome.SUCCEEDED, raw_status, captured)
    charge = SandboxCharge.objects.get(id=started.processor_reference)
    assert (charge.status, charge.action, charge.amount_authorized) == (raw_status, "approved", 4200)


def test_paypal_authorized_then_captured_and_refunded(sandbox, browser):
    started = sandbox.authorize(authorize_request(payment_method_type="paypal", amount=4200, capture=False))
    answer(browser, started.redirect_url, "approve")
    sandbox.complete(reference="att", processor_reference=started.processor_reference, capture=False)

    captured = sandbox.capture(
        reference="cap", processor_reference=started.processor_reference, amount=4200, currency="USD"
    )
    refunded = sandbox.refund(
        reference="re", processor_reference=started.processor_reference, amount=1000, currency="USD"
    )

    assert (captured.outcome, refunded.outcome) == (Outcome.SUCCEEDED, Outcome.SUCCEEDED)
    assert SandboxCharge.objects.get(id=started.processor_reference).amount_refunded == 1000


def test_paypal_cancel_is_a_retryable_decline(sandbox, browser):
    started = sandbox.authorize(authorize_request(payment_method_type="paypal"))

    response = answer(browser, started.redirect_url, "cancel")
    result = sandbox.complete(reference="att", processor_reference=started.processor_reference, capture=True)

    assert response.status_code == 302
    assert (result.outcome, result.error_code) == (Outcome.DECLINED, "payment_method_canceled")
    charge = SandboxCharge.objects.get(id=started.processor_reference)
    assert (charge.status, charge.action, charge.amount_captured) == ("declined", "canceled", 0)
    # The payment may be retried: a new attempt (new reference) starts a new order.
    retry = sandbox.authorize(authorize_request(payment_method_type="paypal"))
    assert retry.outcome == Outcome.REQUIRES_ACTION
    assert retry.processor_reference != started.processor_reference
