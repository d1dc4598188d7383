"""What nginx or gunicorn refuse before the application sees the request answers in the one JSON
error shape over the balancer, like everything else (nginx.conf.template's error_page, gunicorn.conf.py)."""

import pytest

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize(
    ("query_length", "header_length", "status", "code"),
    [
        (20_000, 0, 414, "uri_too_long"),  # over nginx's large_client_header_buffers: nginx's 414
        (6_000, 0, 414, "uri_too_long"),  # passes nginx, over gunicorn's limit_request_line: gunicorn's 414
        (0, 20_000, 431, "request_header_fields_too_large"),  # nginx's 494, answered as 431
    ],
)
def test_over_long_urls_and_headers_are_refused_in_the_error_shape(merchant, query_length, header_length, status, code):
    headers = {"X-Padding": "p" * header_length} if header_length else {}

    response = merchant.get("/v1/payments?q=" + "a" * query_length, headers=headers)

    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, None)
