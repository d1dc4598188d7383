import io
import json
import logging

import pytest

from gateway.logging import JsonFormatter, RequestContextFilter

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.gateway.probe_urls")]


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_access_log_is_one_json_line_with_context_and_no_body(json_log, merchant_keys, secret_client):
    response = secret_client.post("/v1/probe", {"amount": 3, "note": "hush-secret"}, format="json")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [entry for entry in lines if entry["logger"] == "gateway.request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == response["Request-Id"]
    assert entry["merchant_id"] == merchant_keys.merchant_id
    assert entry["method"] == "POST" and entry["path"] == "/v1/probe" and entry["status"] == 201
    assert isinstance(entry["duration_ms"], float)
    assert "hush-secret" not in json_log.getvalue()
    assert merchant_keys.secret_key not in json_log.getvalue()


def test_unexpected_errors_are_logged_with_request_id(json_log, secret_client):
    response = secret_client.get("/v1/probe/crash")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    errors = [entry for entry in lines if entry["logger"] == "gateway.errors"]
    assert errors and errors[0]["request_id"] == response["Request-Id"]
    assert errors[0]["exc_type"] == "RuntimeError"


def test_database_errors_are_logged_without_the_statement(json_log, secret_client):
    response = secret_client.get("/v1/probe/dberror")
    assert response.status_code == 500
    output = json_log.getvalue()
    assert "unhandled database error" in output and "DataError" in output
    assert "leak@example.com" not in output and "Leaky Name" not in output
