"""gunicorn settings every way of running the gateway shares (gunicorn reads ./gunicorn.conf.py from
its working directory: the Dockerfile's WORKDIR, deploy/stack.py, scripts/prod_smoke.py, the tests).

Requests gunicorn refuses itself, before Django sees them (a request line over ``limit_request_line``:
414; a header field over ``limit_request_field_size`` or more than ``limit_request_fields`` fields:
431; an unparseable request: 400), are answered in the API's one JSON error shape instead of
gunicorn's HTML page. gunicorn has no setting for that page, so its one writer of it,
``gunicorn.util.write_error``, is replaced when the master starts (workers are forked from it).
Nothing of the refused request is echoed back.
"""

import json
import secrets

from gunicorn import util

_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}
_MESSAGES = {
    400: "Malformed HTTP request.",
    403: "Request forbidden.",
    414: "Request URL too long.",
    417: "Expectation failed.",
    431: "Request header fields too large (or too many).",
    500: "An unexpected error occurred.",
    501: "Transfer coding not supported.",
}


def json_error_response(status: int, reason: str) -> bytes:
    error = {
        "type": "invalid_request_error" if status < 500 else "api_error",
        "code": _CODES.get(status, "bad_request" if status < 500 else "internal_error"),
        "message": _MESSAGES.get(status, reason),
        "param": None,
        "request_id": "req_" + secrets.token_hex(12),  # the format RequestContextMiddleware uses
    }
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_json_error(sock, status_int, reason, mesg):
    util.write_nonblock(sock, json_error_response(int(status_int), str(reason)))


def on_starting(server):
    util.write_error = _write_json_error
