import pytest

from checkout.models import CheckoutSession
from payments.models import Payment

from .conftest import DECLINE, SUCCESS, assert_books_balance

pytestmark = pytest.mark.django_db


def test_pay_page_with_a_card_lands_on_success_url(create_session, page):
    session = create_session()
    assert session["status"] == "open" and session["payment_status"] == "unpaid" and session["payment"] is None
    response = page.get(f"/pay/{session['id']}")
    assert response.status_code == 200, response.content
    html = response.content.decode()
    assert "$25.00" in html and "Green tea" in html
    declined = page.pay_card(session["id"], DECLINE)
    assert declined.status_code == 303
    again = page.get(f"/pay/{session['id']}")
    assert "declined" in again.content.decode()
    paid = page.pay_card(session["id"], SUCCESS)
    assert paid.status_code == 303, paid.content
    assert paid["Location"] == f"http://127.0.0.1:9/done?session={session['id']}"
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment_status == "paid"
    assert Payment.objects.filter(merchant_id=row.merchant_id).count() == 1
    assert_books_balance()
