"""PCI DSS 3.3.1 / 3.5.1 in practice: after a run of payments (success, declines, 3-D Secure,
saved cards, pay-by-saved-method, refunds, validation errors) neither the database — every
table of the schema dumped as text — nor the logs (pytest's caplog, a real JSON log handler,
and the SQL statements themselves) contain a test card number or the CVC."""

import io
import logging
import re

import pytest
from django.db import connection

from gateway.logging import JsonFormatter, RequestContextFilter
from tests.customers.factories import CustomerFactory

from .conftest import CVC, DECLINE, MASTERCARD, PAYPAL, SUCCESS, TEST_CARDS, THREE_DS, browser_answers, card

pytestmark = pytest.mark.django_db(transaction=True)

# The CVC is 3 digits, which ids, hashes and timestamps ("12.737+00:00") contain by chance; it counts
# as leaked as a token of its own (or under a "cvc" key).
CVC_AS_VALUE = re.compile(rf"(?<![0-9A-Za-z.:+_-]){CVC}(?![0-9A-Za-z.:+_-])")


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def dump_database() -> str:
    """Every row of every table in the schema, as JSON text."""
    lines = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(table_name) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")
            lines.extend(f"{table}: {row[0]}" for row in cursor.fetchall())
    assert len(tables) > 20
    return "\n".join(lines)


def assert_no_card_data(text: str, where: str) -> None:
    # Booleans first: on failure, show where, not megabytes of dump.
    for number in TEST_CARDS:
        leaked = number in text or spaced(number) in text
        assert not leaked, f"card number {number[:6]}... found in {where}"
    match = CVC_AS_VALUE.search(text)
    assert match is None, f"CVC found in {where}: ...{text[max(0, match.start() - 80) : match.start() + 20]}"
    has_cvc_field = '"cvc"' in text
    assert not has_cvc_field, f"a cvc field found in {where}"


@pytest.fixture
def captured_logs():
    """A real handler with the production JSON formatter on the root logger, at DEBUG, with SQL logged."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.setLevel(logging.DEBUG)
    root, sql = logging.getLogger(), logging.getLogger("django.db.backends")
    levels = (root.level, sql.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # django.db.backends logs every statement with its parameters
    try:
        yield stream
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(handler)
        root.setLevel(levels[0])
        sql.setLevel(levels[1])


def test_no_card_number_or_cvc_in_database_or_logs(secret_client, merchant_keys, captured_logs, caplog):
    caplog.set_level(logging.DEBUG)
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)

    keys = iter(range(1000))

    def pay(expected: int, **body):
        body.setdefault("amount", 1500)
        body.setdefault("currency", "usd")
        response = secret_client.post("/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=f"run-{next(keys)}")
        assert response.status_code == expected, response.content
        return response.json()

    # a run of payments of every kind
    pay(201, payment_method=card(SUCCESS), confirm=True)
    declined = pay(402, payment_method=card(DECLINE), confirm=True)["error"]["payment"]
    retried = secret_client.post(
        f"/v1/payments/{declined['id']}/confirm", {"payment_method": card(spaced(MASTERCARD))}, format="json"
    )
    assert retried.status_code == 200
    three_ds = pay(201, payment_method=card(THREE_DS), confirm=True)
    browser_answers(three_ds["next_action"]["redirect_to_url"]["url"], approve=True)
    saved = pay(201, customer=customer.id, payment_method=card(MASTERCARD), save_payment_method=True, confirm=True)
    by_saved = pay(201, customer=customer.id, payment_method=saved["payment_method"]["id"], confirm=True)
    later = pay(201, payment_method=card(SUCCESS), capture_method="manual")  # vaulted until confirmed
    secret_client.post(f"/v1/payments/{later['id']}/confirm", {}, format="json")
    secret_client.post(f"/v1/payments/{later['id']}/capture", {}, format="json")
    pay(201, payment_method=PAYPAL, confirm=True)
    secret_client.post("/v1/refunds", {"payment": by_saved["id"], "amount": 500}, format="json")
    pay(400, payment_method=card("4242424242424241"), confirm=True)  # invalid number: rejected
    pay(400, payment_method=card(SUCCESS, cvc="12345"), confirm=True)
    pay(400, payment_method=SUCCESS, confirm=True)  # a number where an id belongs

    # then no card number and no CVC anywhere
    assert_no_card_data(dump_database(), "the database")
    log_text = captured_logs.getvalue()
    assert "INSERT INTO" in log_text and "payments_payment" in log_text  # the SQL really was logged
    assert_no_card_data(log_text, "the JSON logs")
    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert_no_card_data(records, "caplog records")
