"""Every HTTP status Stripe and PayPal document, and what it means for money
(``processors.http.error_status_outcome``): only a refusal of the request is a decline; a call
that may still be running or may have acted is UNKNOWN, resolved by asking the processor."""

import pytest

from processors.base import Outcome
from processors.http import error_status_outcome

# Stripe ("Errors": 400, 401, 402, 403, 404, 409, 424, 429, 500, 502, 503, 504) and PayPal
# (Orders v2 / Payments v2 responses: 400, 401, 403, 404, 405, 406, 409, 415, 422, 429, 500, 503).
DOCUMENTED = {
    400: (Outcome.DECLINED, None),  # invalid request: nothing was done
    402: (Outcome.DECLINED, None),  # Stripe: the request failed (a card decline)
    405: (Outcome.DECLINED, None),
    406: (Outcome.DECLINED, None),
    415: (Outcome.DECLINED, None),
    422: (Outcome.DECLINED, None),  # PayPal: business refusal (UNPROCESSABLE_ENTITY)
    401: (Outcome.FAILED, "processor_authentication_failed"),
    403: (Outcome.FAILED, "processor_authentication_failed"),
    404: (Outcome.FAILED, "not_found"),
    429: (Outcome.FAILED, "rate_limited"),
    # Stripe: same idempotency key in use; PayPal: RESOURCE_CONFLICT / PREVIOUS_REQUEST_IN_PROGRESS
    409: (Outcome.UNKNOWN, "request_in_progress"),
    424: (Outcome.UNKNOWN, "processor_error"),  # Stripe: an external dependency failed
    408: (Outcome.UNKNOWN, "processor_error"),  # undocumented: may have acted
    500: (Outcome.UNKNOWN, "processor_error"),
    502: (Outcome.UNKNOWN, "processor_error"),
    503: (Outcome.UNKNOWN, "processor_error"),
    504: (Outcome.UNKNOWN, "processor_error"),
    302: (Outcome.UNKNOWN, "processor_error"),
}


@pytest.mark.parametrize(("status", "expected"), sorted(DOCUMENTED.items()))
def test_what_each_status_means_for_a_call_that_can_move_money(status, expected):
    assert error_status_outcome(status) == expected


@pytest.mark.parametrize("status", [409, 424, 408, 500, 503])
def test_an_ambiguous_answer_to_a_call_that_cannot_move_money_is_failed(status):
    # a read, PayPal's order creation: whatever happened, nothing moved
    outcome, code = error_status_outcome(status, money_may_move=False)
    assert outcome is Outcome.FAILED and code == DOCUMENTED[status][1]
