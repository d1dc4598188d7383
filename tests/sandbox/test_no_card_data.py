"""After a run through every sandbox flow, no card number or CVC is in the database or the logs."""

import json
import logging
import re

import pytest
from django.db import connection
from django.test import Client

from gateway.logging import JsonFormatter
from processors.base import Outcome

from .conftest import authorize_request
from .test_connector import DECLINES

pytestmark = pytest.mark.django_db

CVC = "731"
AMEX_CVC = "8642"
PANS = [number for number, *_ in DECLINES] + [
    "4242424242424242",
    "5555555555554444",
    "4000000000000119",
    "4000002500003155",
    "378282246310005",
]


def all_tables_as_text() -> str:
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')
            lines.extend(f"{table}: {row[0]}" for row in cursor.fetchall())
    return "\n".join(lines)


def all_columns() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
        return [row[0] for row in cursor.fetchall()]


def test_no_pan_or_cvc_anywhere_after_every_flow(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    browser = Client()

    for number in PANS:
        cvc = AMEX_CVC if number.startswith("37") else CVC
        result = sandbox.authorize(authorize_request(number=number, capture=False, amount=1500, cvc=cvc))
        if result.outcome == Outcome.REQUIRES_ACTION:
            path = re.sub(r"^https?://[^/]+", "", result.redirect_url)
            browser.get(path)
            browser.post(path, {"result": "complete"})
            result = sandbox.complete(reference="att", processor_reference=result.processor_reference, capture=False)
        if result.outcome == Outcome.SUCCEEDED:
            ref = result.processor_reference
            sandbox.capture(reference=f"cap_{ref}", processor_reference=ref, amount=1200, currency="USD")
            sandbox.refund(reference=f"re_{ref}", processor_reference=ref, amount=500, currency="USD")
            sandbox.status(reference="", processor_reference=ref)
    paypal = sandbox.authorize(authorize_request(payment_method_type="paypal"))
    assert paypal.outcome == Outcome.REQUIRES_ACTION

    dump = all_tables_as_text()
    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(record) for record in caplog.records)

    assert "sandbox_sandboxcharge" in dump and "sandbox_sandboxrefund" in dump  # the dump did see the book
    assert dump.count("sandbox_sandboxrefund:") == 4  # 4242, 5555, 3155 (after 3DS), amex
    for number in PANS:
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        for text, where in ((dump, "database"), (logs, "logs")):
            assert number not in text, f"card number found in the {where}"
            assert spaced not in text, f"card number found in the {where}"
            assert number[:12] not in text, f"most of a card number found in the {where}"
    for cvc in (CVC, AMEX_CVC):
        for text in (dump, logs):
            # As a value in a JSON row or a log field, or after a "cvc"-like key.
            assert not re.search(rf'"{cvc}"|:\s*{cvc}\b|cv[cv2]\W+{cvc}', text, re.IGNORECASE)
    suspicious = [c for c in all_columns() if re.search(r"(cvc|cvv|card_number|\.pan$)", c)]
    assert suspicious == []
    # The rows hold what a processor may keep: brand and last four.
    assert json.dumps("4242") in dump
