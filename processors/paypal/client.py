"""Talking to PayPal: an OAuth2 client-credentials token and JSON requests.

* Token: ``POST /v1/oauth2/token`` (Basic client_id:secret, ``grant_type=client_credentials``),
  cached in the Django cache (Redis) per account until ``PAYPAL_TOKEN_REFRESH_MARGIN`` seconds
  before it expires; a 401 on an API call drops it and retries once with a fresh one (a 401 means
  the call was refused unprocessed).
* Idempotency: ``PayPal-Request-Id: <our reference>`` on every POST.
"""

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.cache import cache

from ..base import Outcome, ProcessorResult
from ..http import PROCESSOR_AUTH_FAILED, PROCESSOR_ERROR, HttpClient, Reply


def _token_cache_key(*, account_id: str, client_id: str) -> str:
    client_hash = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    return f"processors:paypal-token:{account_id}:{client_hash}"


def paypal_token_forget(*, account_id: str, client_id: str) -> None:
    """Drop a cached access token (after credentials change)."""
    cache.delete(_token_cache_key(account_id=account_id, client_id=client_id))


class PayPalClient:
    processor = "paypal"

    def __init__(self, *, account_id: str, config: dict[str, Any]):
        self.account_id = account_id
        self.config = config

    def _http(self) -> HttpClient:
        default_base = (
            settings.PAYPAL_API_BASE_LIVE if self.config.get("livemode") else settings.PAYPAL_API_BASE_SANDBOX
        )
        return HttpClient(
            base_url=self.config.get("base_url") or default_base,
            connect_timeout=float(self.config.get("connect_timeout") or settings.PROCESSOR_CONNECT_TIMEOUT),
            read_timeout=float(self.config.get("read_timeout") or settings.PROCESSOR_READ_TIMEOUT),
            processor=self.processor,
        )

    def _token_key(self) -> str:
        return _token_cache_key(account_id=self.account_id, client_id=str(self.config.get("client_id", "")))

    def _token(self, http: HttpClient, *, fresh: bool = False) -> str | ProcessorResult:
        key = self._token_key()
        if not fresh:
            cached = cache.get(key)
            if cached:
                return cached
        reply = http.request(
            "POST",
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(self.config.get("client_id", ""), self.config.get("client_secret", "")),
            headers={"Accept": "application/json"},
        )
        if isinstance(reply, ProcessorResult):
            # No payment call was made: whatever happened to the token request, nothing moved.
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        if reply.status != 200 or not isinstance(reply.body, dict) or "access_token" not in reply.body:
            code = PROCESSOR_AUTH_FAILED if reply.status in (400, 401, 403) else PROCESSOR_ERROR
            return ProcessorResult(
                outcome=Outcome.FAILED, error_code=code, message=f"PayPal token request answered {reply.status}"
            )
        token = reply.body["access_token"]
        lifetime = int(reply.body.get("expires_in") or 0) - settings.PAYPAL_TOKEN_REFRESH_MARGIN
        if lifetime > 0:
            cache.set(key, token, timeout=lifetime)
        return token

    def call(
        self, method: str, path: str, *, body: Any = None, raw_body: bytes | None = None, request_id: str | None = None
    ) -> Reply | ProcessorResult:
        """One API call with the account's token (a 401 drops it and retries once with a fresh one).
        ``body`` is encoded as JSON; ``raw_body`` is sent exactly as given (already JSON)."""
        http = self._http()
        for fresh in (False, True):
            token = self._token(http, fresh=fresh)
            if isinstance(token, ProcessorResult):
                return token
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Prefer": "return=representation",
            }
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            payload = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
            reply = http.request(method, path, data=payload, headers=headers)
            if isinstance(reply, Reply) and reply.status == 401 and not fresh:
                cache.delete(self._token_key())
                continue
            return reply
        return reply

    def read(self, path: str) -> Reply | ProcessorResult:
        """A GET: it moves no money, so a lost answer is FAILED for the operation that needed it."""
        reply = self.call("GET", path)
        if isinstance(reply, ProcessorResult) and reply.outcome is Outcome.UNKNOWN:
            return ProcessorResult(outcome=Outcome.FAILED, error_code=reply.error_code, message=reply.message)
        return reply
