"""Per-request context (request id, merchant) available to logging and to the event outbox."""

from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
merchant_id_var: ContextVar[str | None] = ContextVar("merchant_id", default=None)
idempotency_key_var: ContextVar[str | None] = ContextVar("idempotency_key", default=None)
# The claim (``gateway.idempotency.Claim``: key row id, claim token) of the idempotent request being executed.
idempotency_claim_var: ContextVar[Any] = ContextVar("idempotency_claim", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_idempotency_key() -> str | None:
    return idempotency_key_var.get()
