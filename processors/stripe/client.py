"""Talking to Stripe: ``Authorization: Bearer <secret key>``, a pinned ``Stripe-Version``,
form-encoded bodies (``a[b][c]=v``) with ``Content-Type: application/x-www-form-urlencoded`` on
every POST (an empty body too, as Stripe's SDKs send it) and an ``Idempotency-Key`` derived from
our reference on every POST, so a repeated call (retry, status sync racing a late reply) replays
Stripe's stored result instead of charging again."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from ..base import ProcessorResult
from ..http import HttpClient, Reply

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def form_encode(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b]``, lists as ``a[0]``, booleans as true/false."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            pairs.extend(form_encode(value, name))
        elif isinstance(value, (list, tuple)):
            pairs.extend(form_encode({str(i): item for i, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


class StripeClient:
    """One account's access to Stripe's API. A fresh HTTP session per request (``HttpClient``)."""

    processor = "stripe"

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def _http(self) -> HttpClient:
        return HttpClient(
            base_url=self.config.get("base_url") or settings.STRIPE_API_BASE,
            connect_timeout=float(self.config.get("connect_timeout") or settings.PROCESSOR_CONNECT_TIMEOUT),
            read_timeout=float(self.config.get("read_timeout") or settings.PROCESSOR_READ_TIMEOUT),
            processor=self.processor,
        )

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.config.get('secret_key', '')}",
            "Stripe-Version": self.config.get("stripe_version") or settings.STRIPE_API_VERSION,
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def post(self, path: str, data: dict[str, Any], *, idempotency_key: str) -> Reply | ProcessorResult:
        headers = {**self._headers(idempotency_key), "Content-Type": FORM_CONTENT_TYPE}
        return self._http().request("POST", path, data=urlencode(form_encode(data)), headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Reply | ProcessorResult:
        return self._http().request("GET", path, params=form_encode(params or {}), headers=self._headers())
