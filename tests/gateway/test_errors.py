"""Every failure answers the one documented error shape, with a Request-Id, never internals."""

import json

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.gateway.probe_urls")]

ERROR_KEYS = {"type", "code", "message", "param", "request_id"}


def assert_error_shape(response, status: int, error_type: str, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) >= ERROR_KEYS
    assert error["type"] == error_type
    if code:
        assert error["code"] == code
    assert error["request_id"] == response["Request-Id"]
    return error


def test_validation_error_names_the_param(secret_client):
    # Given a body missing a required field / with a bad nested value
    # When it is posted
    response = secret_client.post("/v1/probe", {"note": "x"}, format="json")
    # Then 400 names the missing parameter
    error = assert_error_shape(response, 400, "invalid_request_error", "parameter_missing")
    assert error["param"] == "amount"

    response = secret_client.post("/v1/probe", {"amount": 0}, format="json")
    error = assert_error_shape(response, 400, "invalid_request_error", "parameter_invalid")
    assert error["param"] == "amount"
    assert "amount" in error["message"]


def test_nested_validation_param_path(secret_client):
    response = secret_client.post("/v1/probe", {"amount": 1, "lines": [{}, "bad"]}, format="json")
    error = assert_error_shape(response, 400, "invalid_request_error")
    assert error["param"] == "lines[1]"


def test_malformed_json(secret_client):
    response = secret_client.generic("POST", "/v1/probe", b'{"amount": 1,', content_type="application/json")
    error = assert_error_shape(response, 400, "invalid_request_error", "malformed_json")
    assert "JSON" in error["message"]


def test_unsupported_media_type(secret_client):
    response = secret_client.generic("POST", "/v1/probe", b"amount=1", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "invalid_request_error", "unsupported_media_type")


def test_method_not_allowed(secret_client):
    assert_error_shape(secret_client.delete("/v1/probe"), 405, "invalid_request_error", "method_not_allowed")


def test_unknown_url_is_404_json(secret_client):
    error = assert_error_shape(secret_client.get("/v1/nothing-here"), 404, "invalid_request_error", "resource_missing")
    assert "/v1/nothing-here" in error["message"]


def test_body_over_one_mebibyte_is_413(secret_client):
    big = b'{"amount": 1, "note": "' + b"x" * (1024 * 1024) + b'"}'
    response = secret_client.generic("POST", "/v1/probe", big, content_type="application/json")
    assert_error_shape(response, 413, "invalid_request_error", "request_too_large")


def test_unexpected_exception_is_500_without_internals(secret_client):
    response = secret_client.get("/v1/probe/crash")
    error = assert_error_shape(response, 500, "api_error", "internal_error")
    assert b"Traceback" not in response.content
    assert b"secret internal detail" not in response.content
    assert b"sk_test_leak" not in response.content
    assert error["message"] == "An unexpected error occurred."


def test_api_error_raised_by_service_keeps_code(secret_client):
    response = secret_client.post("/v1/probe", {"amount": 5, "note": "conflict"}, format="json")
    assert_error_shape(response, 409, "invalid_request_error", "probe_conflict")


def test_every_response_carries_a_request_id(secret_client, api_client):
    ok = secret_client.get("/v1/account")
    unauthenticated = api_client.get("/v1/account")
    health = api_client.get("/healthz")
    ids = {ok["Request-Id"], unauthenticated["Request-Id"], health["Request-Id"]}
    assert len(ids) == 3
    assert all(rid.startswith("req_") for rid in ids)
