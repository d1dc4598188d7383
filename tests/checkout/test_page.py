"""The hosted page over HTTP (Django's client, no JavaScript): headers, CSRF, the pages a
customer can reach, the status endpoint, the rate limit, and locale formatting."""

import re

import pytest
from babel import Locale

from checkout.formatting import locale_for, money_format
from checkout.models import CheckoutSession

from .conftest import DECLINE, SUCCESS, PageClient

pytestmark = pytest.mark.django_db


def test_headers_lock_the_page_down(create_session, page):
    session = create_session()
    response = page.get(f"/pay/{session['id']}")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "base-uri 'none'", "form-action 'self'"):  # fmt: skip
        assert directive in csp
    assert "http://127.0.0.1:9" in csp  # the success/cancel origin: the form's redirect target
    assert "unsafe-inline" not in csp
    assert "no-store" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    html = response.content.decode()
    assert "<script>" not in html and "style=" not in html and " on" + "click=" not in html
    assert re.search(r'<script src="/pay/assets/checkout.js\?v=\w+" defer>', html)


def test_assets_are_served_without_a_build_step(page):
    response = page.get("/pay/assets/checkout.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert "immutable" in response["Cache-Control"]
    assert page.get("/pay/assets/../settings.py").status_code == 404


def test_unknown_or_malformed_session_ids_are_a_404_page(page):
    for path in ("/pay/cs_nope", "/pay/cs_" + "0" * 52, "/pay/%00"):
        response = page.get(path)
        assert response.status_code == 404, path
        assert b"This payment link is not valid" in response.content


def test_a_post_without_the_csrf_token_is_refused(create_session):
    session = create_session()
    client = PageClient()
    response = client.client.post(f"/pay/{session['id']}", {"method": "card", "number": SUCCESS})
    assert response.status_code == 403 and b"Page expired" in response.content
    assert SUCCESS.encode() not in response.content
    assert CheckoutSession.objects.get(pk=session["id"]).payment_id is None


def test_field_errors_are_rendered_next_to_the_fields_without_the_number(create_session, page):
    session = create_session()
    response = page.pay_card(session["id"], "4242424242424241", cvc="12", expiry="13/40")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="card-number-error">Your card number is not valid.' in html
    assert 'aria-describedby="card-number-error"' in html and 'aria-invalid="true"' in html
    assert "autofocus" in html.split('id="card-number"')[1].split(">")[0]
    assert "4242424242424241" not in html and 'value="12"' not in html


def test_decline_redirects_back_to_the_page_with_the_message(create_session, page):
    session = create_session()
    response = page.pay_card(session["id"], DECLINE)
    assert response.status_code == 303 and response["Location"] == f"/pay/{session['id']}"
    html = page.get(response["Location"]).content.decode()
    assert 'role="alert"' in html and "declined" in html


def test_status_endpoint_tells_the_page_where_to_go(create_session, page):
    session = create_session()
    status = page.get(f"/pay/{session['id']}/status").json()
    assert (status["status"], status["state"], status["next"]) == ("open", "open", None)
    page.pay_card(session["id"])
    status = page.get(f"/pay/{session['id']}/status").json()
    assert status["state"] == "complete" and status["next"].endswith(f"session={session['id']}")
    complete = page.get(f"/pay/{session['id']}")
    assert complete.status_code == 200 and b"Payment complete" in complete.content


def test_the_page_is_rate_limited_per_client(create_session, page, settings):
    settings.CHECKOUT_RATE_BURST = 3
    settings.CHECKOUT_RATE_PER_SECOND = 0.001
    session = create_session()
    codes = [page.get(f"/pay/{session['id']}/status").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert page.get(f"/pay/{session['id']}/status")["Retry-After"]


def test_money_is_formatted_for_the_currency_exponent_and_the_locale():
    assert money_format(amount=123450, currency="USD", locale=Locale.parse("en_US")) == "$1,234.50"
    assert money_format(amount=123450, currency="EUR", locale=Locale.parse("de_DE")) == "1.234,50\xa0€"
    assert money_format(amount=500, currency="JPY", locale=Locale.parse("en")) == "¥500"
    assert money_format(amount=1234, currency="KWD", locale=Locale.parse("en")) == "KWD1.234"
    assert str(locale_for(session_locale="auto", accept_language="fr-CH,fr;q=0.9,en;q=0.5")) == "fr"
    assert str(locale_for(session_locale="", accept_language="")) == "en"


def test_the_page_shows_the_sessions_locale(create_session, page):
    session = create_session(locale="de", amount=123450, currency="eur",
                             line_items=[{"description": "Tee", "amount": 123450}])  # fmt: skip
    html = page.get(f"/pay/{session['id']}").content.decode()
    assert "1.234,50\xa0€" in html and 'lang="de"' in html
