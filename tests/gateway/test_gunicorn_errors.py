"""What gunicorn itself refuses (before Django sees the request) answers in the one JSON error shape,
not gunicorn's HTML page: over-long request lines (414), header fields (431), malformed requests (400)."""

import json
import socket
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.slow]


def _raw(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_requests_gunicorn_refuses_are_answered_in_the_json_error_shape(live_server_gunicorn):
    long_url = b"GET /v1/payments?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    long_header = b"GET /v1/payments HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\nConnection: close\r\n\r\n"
    many_headers = (
        b"GET /v1/payments HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        + b"Connection: close\r\n\r\n"
    )
    garbage = b"NOT A REQUEST\r\n\r\n"
    cases = [
        (long_url, 414, "uri_too_long"),
        (long_header, 431, "request_header_fields_too_large"),
        (many_headers, 431, "request_header_fields_too_large"),
        (garbage, 400, "bad_request"),
    ]

    for request, status, code in cases:
        got_status, headers, body = _raw(live_server_gunicorn, request)

        assert got_status == status, (request[:40], got_status, body[:200])
        assert headers["content-type"] == "application/json"
        assert headers["cache-control"] == "no-store"
        assert int(headers["content-length"]) == len(body)
        error = json.loads(body)["error"]
        assert set(error) == {"type", "code", "message", "param", "request_id"}
        assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, None)
        assert error["request_id"].startswith("req_")
        assert b"bbbb" not in body and b"aaaa" not in body  # nothing of the request is echoed back
