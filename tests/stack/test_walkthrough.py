"""The README's walk-through, end to end over the production stack: nginx round robin over two
instances, PgBouncer in transaction mode, the production venv and settings, a real worker and beat.

Then: the webhook receiver got each payment.succeeded and refund.succeeded exactly once with a valid
signature, the SMTP sink got the order e-mails, ``ledger_verify`` is clean, and both instances served.
"""

import base64
import email
import json
import re
from email.header import decode_header, make_header
from urllib.parse import urljoin

import pytest
import requests

from tests.events.helpers import README_DOC, load_verifier

from .conftest import CARD_4242, PASSWORD, wait_for

pytestmark = pytest.mark.slow

THREE_DS_CARD = {**CARD_4242, "number": "4000002500003155"}
MERCHANT_RETURN = "https://shop.example/return"


def answer_challenge(stack, redirect_url: str, choice: str) -> requests.Response:
    """What the customer's browser does on the sandbox's page: GET the form, POST the answer with the
    CSRF cookie and token, then follow the redirect to the gateway's return URL (which completes)."""
    browser = requests.Session()
    tls = {"verify": stack.ca_file}  # per call: REQUESTS_CA_BUNDLE would override a session's verify
    page = browser.get(redirect_url, timeout=30, **tls)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    posted = browser.post(
        redirect_url,
        data={"result": choice, "csrfmiddlewaretoken": token},
        headers={"Referer": redirect_url, "Origin": stack.url},
        allow_redirects=False,
        timeout=30,
        **tls,
    )
    assert posted.status_code == 302, posted.text
    returned = browser.get(urljoin(redirect_url, posted.headers["Location"]), allow_redirects=False, timeout=60, **tls)
    assert returned.status_code == 302, returned.text
    assert returned.headers["Location"].startswith(MERCHANT_RETURN)
    return returned


def subject_of(message: dict) -> str:
    return str(make_header(decode_header(email.message_from_string(message["data"])["Subject"])))


def test_readme_walkthrough_over_the_balancer(stack, merchant, stack_db):
    verify = load_verifier(README_DOC)
    # Given a webhook endpoint on the local receiver
    endpoint = merchant.post(
        "/v1/webhook_endpoints",
        {"url": stack.webhook_url, "enabled_events": ["payment.succeeded", "refund.succeeded"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    secret = endpoint.json()["secret"]

    # Customers: create, log in with the publishable key, read /v1/me
    customer = merchant.post(
        "/v1/customers",
        {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123", "password": PASSWORD},
        idempotency_key="cus-ada-1",
    )
    assert customer.status_code == 201, customer.text
    login = merchant.post(
        "/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, key=merchant.publishable_key
    )
    assert login.status_code == 200, login.text
    me = merchant.get("/v1/me", key=login.json()["token"])
    assert (me.status_code, me.json()["email"]) == (200, "ada@example.com")

    # Orders: the server computes the totals
    order = merchant.post(
        "/v1/orders",
        {
            "customer": customer.json()["id"],
            "currency": "usd",
            "lines": [{"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_amount": 1250}],
            "shipping_amount": 500,
            "tax_amount": 240,
        },
        idempotency_key="order-42",
    )
    assert (order.status_code, order.json()["total"]) == (201, 3240), order.text
    order_id = order.json()["id"]

    # Payments: pay the order with 4242, refund part of it
    card_payment = merchant.post(
        "/v1/payments",
        {"order": order_id, "confirm": True, "payment_method": {"type": "card", "card": CARD_4242}},
        idempotency_key=f"pay-{order_id}",
    )
    assert (card_payment.status_code, card_payment.json()["status"]) == (201, "succeeded"), card_payment.text
    assert merchant.get(f"/v1/orders/{order_id}").json()["status"] == "paid"
    refund = merchant.post(
        "/v1/refunds", {"payment": card_payment.json()["id"], "amount": 1000}, idempotency_key="re-1"
    )
    assert (refund.status_code, refund.json()["status"]) == (201, "succeeded"), refund.text
    assert merchant.get(f"/v1/orders/{order_id}").json()["status"] == "partially_refunded"

    # 3-D Secure: the customer approves on the page, the return URL completes the payment
    three_ds = merchant.post(
        "/v1/payments",
        {
            "amount": 2599,
            "currency": "eur",
            "confirm": True,
            "return_url": MERCHANT_RETURN,
            "payment_method": {"type": "card", "card": THREE_DS_CARD},
        },
        idempotency_key="pay-3ds-1",
    )
    assert (three_ds.status_code, three_ds.json()["status"]) == (201, "requires_action"), three_ds.text
    returned = answer_challenge(stack, three_ds.json()["next_action"]["redirect_to_url"]["url"], "complete")
    assert "status=succeeded" in returned.headers["Location"]
    assert merchant.get(f"/v1/payments/{three_ds.json()['id']}").json()["status"] == "succeeded"

    # PayPal: the buyer approves
    paypal = merchant.post(
        "/v1/payments",
        {
            "amount": 4200,
            "currency": "usd",
            "confirm": True,
            "return_url": MERCHANT_RETURN,
            "payment_method": {"type": "paypal"},
        },
        idempotency_key="pay-paypal-1",
    )
    assert (paypal.status_code, paypal.json()["status"]) == (201, "requires_action"), paypal.text
    returned = answer_challenge(stack, paypal.json()["next_action"]["redirect_to_url"]["url"], "approve")
    assert "status=succeeded" in returned.headers["Location"]

    succeeded = {card_payment.json()["id"], three_ds.json()["id"], paypal.json()["id"]}

    # Then every delivery of this merchant is done (the worker delivered; nothing left pending) ...
    def deliveries_done():
        pending = stack_db.execute(
            "SELECT count(*) FROM events_delivery d JOIN events_event e ON e.id = d.event_id "
            "WHERE e.merchant_id = %s AND d.status <> 'succeeded'",
            [merchant.merchant_id],
        ).fetchone()[0]
        total = stack_db.execute(
            "SELECT count(*) FROM events_delivery d JOIN events_event e ON e.id = d.event_id WHERE e.merchant_id = %s",
            [merchant.merchant_id],
        ).fetchone()[0]
        return total == 4 and pending == 0

    wait_for(deliveries_done, message="four successful webhook deliveries")

    # ... and the receiver got each event exactly once, each signed with the endpoint's secret. The
    # receiver's own record is waited for too (not only the database's "delivered"): the stress run
    # of 2026-12-07 read it once right after the database said done and missed the last delivery,
    # which the file then held.
    def received():
        found = [
            d
            for d in stack.webhooks()
            if json.loads(base64.b64decode(d["body_b64"]))["data"]["object"].get("id")
            in succeeded | {refund.json()["id"]}
        ]
        return found if len(found) >= 4 else None

    mine = wait_for(received, message="four webhooks at the receiver", detail=lambda: len(stack.webhooks()))
    events = [json.loads(base64.b64decode(d["body_b64"])) for d in mine]
    assert sorted(e["type"] for e in events) == ["payment.succeeded"] * 3 + ["refund.succeeded"]
    assert len({e["id"] for e in events}) == 4
    assert {e["data"]["object"]["id"] for e in events if e["type"] == "payment.succeeded"} == succeeded
    for delivery in mine:
        assert verify(base64.b64decode(delivery["body_b64"]), delivery["headers"]["gateway-signature"], secret)

    # The customer's e-mails went out through SMTP: order received, paid, partially refunded
    def order_mail():
        subjects = sorted(subject_of(m) for m in stack.mail() if order_id in subject_of(m))
        return subjects if len(subjects) == 3 else None

    subjects = wait_for(order_mail, message="three order e-mails")
    assert [subject.split(" - ")[0] for subject in subjects] == [
        f"Partial refund for order {order_id}",
        f"Payment received for order {order_id}",
        f"We received your order {order_id}",
    ]
    assert all(m["rcpt_tos"] == ["ada@example.com"] for m in stack.mail() if order_id in subject_of(m))

    # The books balance, and both instances served the walk-through
    verified = stack.manage("ledger_verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert set(merchant.instances) == {"web1", "web2"}, merchant.instances
