"""HTTP transport shared by the connectors, and the one place that decides what a network
failure or an HTTP error status means for money (``error_status_outcome``).

* The request never left (connection refused, DNS, connect timeout, TLS handshake): FAILED.
* It left and no usable answer came back (read timeout, connection dropped, garbled body):
  UNKNOWN. The processor may have acted; only a status query (or a retry with the same
  idempotency key) can tell.

requests is used without retries (urllib3 would otherwise silently re-send on some errors), and
with a fresh session per connector instance, so a pooled connection the server has closed can
never turn a refused call into an ambiguous one.
"""

import logging
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from .base import Outcome, ProcessorResult

logger = logging.getLogger("processors.http")

# Error codes a connector uses for transport failures; the circuit breaker counts exactly these.
CONNECTION_ERROR = "connection_error"  # FAILED: the request was never delivered
TIMEOUT = "timeout"  # UNKNOWN: no reply within the read timeout
CONNECTION_LOST = "connection_lost"  # UNKNOWN: the connection dropped after the request was sent
PROCESSOR_ERROR = "processor_error"  # 5xx
RATE_LIMITED = "rate_limited"  # 429, documented as not processed
PROCESSOR_AUTH_FAILED = "processor_authentication_failed"  # our credentials refused (401/403)
INVALID_RESPONSE = "invalid_response"  # 2xx whose body we cannot read
PROCESSOR_UNAVAILABLE = "processor_unavailable"  # the sandbox's injected "down"
TRANSPORT_ERROR_CODES = frozenset(
    {
        CONNECTION_ERROR,
        TIMEOUT,
        CONNECTION_LOST,
        PROCESSOR_ERROR,
        RATE_LIMITED,
        PROCESSOR_AUTH_FAILED,
        INVALID_RESPONSE,
        PROCESSOR_UNAVAILABLE,
    }
)
NOT_FOUND = "not_found"  # status query: the processor has no record of our reference
# 409: an earlier request (same idempotency key / same resource) is still running; it may succeed.
REQUEST_IN_PROGRESS = "request_in_progress"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: Any  # parsed JSON (dict/list) or None when empty
    text: str


# 4xx statuses with which a processor refuses the request as such: nothing was done.
# Stripe documents 400 (invalid request) and 402 (request failed, e.g. a card decline); PayPal
# 400 (INVALID_REQUEST), 405, 406, 415 and 422 (UNPROCESSABLE_ENTITY, a business refusal).
REFUSED_STATUSES = frozenset({400, 402, 405, 406, 411, 413, 414, 415, 422})


def error_status_outcome(status: int, *, money_may_move: bool = True) -> tuple[Outcome, str | None]:
    """What a processor's answer with a non-2xx HTTP status means for money: the one mapping every
    connector uses (their own error bodies only add details). Returns (outcome, error code):

    * 401 / 403: our credentials were refused, nothing was processed: FAILED ``processor_authentication_failed``;
    * 404: no such object: FAILED ``not_found``;
    * 429: rate limited, documented as not processed (and not stored under the idempotency key):
      FAILED ``rate_limited``;
    * a refusal of the request itself (``REFUSED_STATUSES``: 400, 402, 422...): DECLINED, code
      None (the connector takes the reason from the processor's body);
    * 409: a conflicting request is still in progress (Stripe: the same idempotency key in use;
      PayPal: ``RESOURCE_CONFLICT`` / ``PREVIOUS_REQUEST_IN_PROGRESS`` for refunds and voids), and
      that earlier call may still succeed: UNKNOWN ``request_in_progress`` (never a decline);
    * anything else (5xx, 408, 424, an undocumented 4xx, an unexpected 3xx): the processor may
      have acted: UNKNOWN ``processor_error``.

    For a call that cannot move money (``money_may_move`` False: a read, PayPal's order creation)
    the ambiguous answers are FAILED instead: whatever happened, nothing moved.
    """
    if status in (401, 403):
        return Outcome.FAILED, PROCESSOR_AUTH_FAILED
    if status == 404:
        return Outcome.FAILED, NOT_FOUND
    if status == 429:
        return Outcome.FAILED, RATE_LIMITED
    if status in REFUSED_STATUSES:
        return Outcome.DECLINED, None
    code = REQUEST_IN_PROGRESS if status == 409 else PROCESSOR_ERROR
    return (Outcome.UNKNOWN if money_may_move else Outcome.FAILED), code


def is_transport_failure(result: ProcessorResult) -> bool:
    return result.outcome in (Outcome.FAILED, Outcome.UNKNOWN) and result.error_code in TRANSPORT_ERROR_CODES


def _never_connected(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class HttpClient:
    def __init__(self, *, base_url: str, connect_timeout: float, read_timeout: float, processor: str):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.processor = processor
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, path: str, **kwargs: Any) -> Reply | ProcessorResult:
        """The processor's reply, or a FAILED/UNKNOWN result when none usable came back."""
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
            text = response.text
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                logger.warning("processor unreachable", extra={"processor": self.processor, "path": path})
                return ProcessorResult(
                    outcome=Outcome.FAILED, error_code=CONNECTION_ERROR, message=f"{self.processor} unreachable"
                )
            return self._ambiguous(path, CONNECTION_LOST, "connection lost before a reply")
        except requests.Timeout:
            return self._ambiguous(path, TIMEOUT, f"no reply within {self.timeout[1]} s")
        except requests.RequestException as exc:
            return self._ambiguous(path, CONNECTION_LOST, f"transport error ({type(exc).__name__})")
        body: Any = None
        if text:
            try:
                body = response.json()
            except ValueError:
                if 200 <= response.status_code < 300:
                    return self._ambiguous(path, INVALID_RESPONSE, "unreadable response body")
        return Reply(status=response.status_code, headers=response.headers, body=body, text=text)

    def _ambiguous(self, path: str, code: str, message: str) -> ProcessorResult:
        logger.warning("processor outcome unknown", extra={"processor": self.processor, "path": path, "code": code})
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code=code, message=f"{self.processor}: {message}")
