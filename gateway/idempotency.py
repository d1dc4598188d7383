"""Idempotent POSTs, keys in PostgreSQL (after Stripe and Brandur Leach's design).

* The key row is inserted in its own short transaction before the handler runs; the unique
  constraint makes exactly one concurrent request the owner. Others see the row: still
  executing -> 409; finished -> the stored response replayed byte-for-byte.
* A different request (method, path or body) under a used key -> 422 ``idempotency_error``.
* Nothing is kept when the request fails validation before executing: the key is released.
* Keys expire after ``IDEMPOTENCY_KEY_TTL_HOURS``; an expired row is replaced on next use and
  purged by a periodic task.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from . import crypto
from .context import idempotency_key_var
from .errors import IDEMPOTENCY, ApiError, Conflict, InvalidRequest
from .models import IdempotencyKey
from .principal import Principal

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


def idempotency_key_from(request) -> str | None:
    key = request.META.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidRequest(
            "Idempotency-Key must be between 1 and 255 characters.", code="idempotency_key_invalid", param=None
        )
    return key


def request_fingerprint(request) -> str:
    body = request.body or b""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON the parser will accept: as sent
        canonical = body
    # Keyed, so a body holding a password cannot be brute-forced from the stored fingerprint.
    digest = hmac.new(settings.SECRET_KEY.encode(), digestmod=hashlib.sha256)
    for part in (request.method.encode(), request.path.encode(), canonical):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _scope(principal: Principal) -> str:
    # Test and live requests never share keys: a live retry must not replay a test response.
    mode = "live" if principal.livemode else "test"
    who = principal.customer_id if principal.kind == "customer" else principal.kind
    return f"{mode}:{who}"


def _expired_before():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def _claim(*, principal: Principal, key: str, request, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    lookup = {"merchant_id": principal.merchant_id, "scope": _scope(principal), "key": key}
    defaults = {
        "request_method": request.method,
        "request_path": request.path[:500],
        "request_fingerprint": fingerprint,
        "locked_at": timezone.now(),
    }
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(**lookup, **defaults), True
        except IntegrityError:
            row = IdempotencyKey.objects.filter(**lookup).first()
            if row is None:
                continue  # deleted (released or purged) in between; try to claim again
            if row.created < _expired_before():
                IdempotencyKey.objects.filter(pk=row.pk, created=row.created).delete()
                continue
            return row, False
    raise Conflict("Could not acquire the idempotency key; retry.", code="idempotency_key_in_use")


# Stored responses can hold secrets shown once (webhook signing secrets, API objects with
# personal data): they are encrypted at rest like every other secret.
_RESPONSE_PURPOSE = "idempotency_response"


def _replay(row: IdempotencyKey) -> HttpResponse:
    body = crypto.decrypt(bytes(row.response_body).decode(), purpose=_RESPONSE_PURPOSE) if row.response_body else b""
    response = HttpResponse(body, status=row.response_status, content_type=row.response_content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent_execute(*, request, principal: Principal, key: str, execute: Callable[[], HttpResponse]):
    fingerprint = request_fingerprint(request)
    row, owner = _claim(principal=principal, key=key, request=request, fingerprint=fingerprint)
    if not owner:
        if row.request_fingerprint != fingerprint:
            raise ApiError(
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                status_code=422,
                error_type=IDEMPOTENCY,
                code="idempotency_key_reused",
            )
        if row.response_status is None:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry later.",
                error_type=IDEMPOTENCY,
                code="idempotency_key_in_use",
            )
        return _replay(row)

    token = idempotency_key_var.set(key)
    try:
        # Ordinary exceptions become responses inside execute(). Anything escaping it (a worker
        # timeout's SystemExit, KeyboardInterrupt) may have interrupted a processor call, so the key
        # stays claimed: a retry gets a 409 instead of charging again under a new payment.
        response = execute()
    finally:
        idempotency_key_var.reset(token)
    if getattr(request._request, "gateway_validation_failed", False):
        IdempotencyKey.objects.filter(pk=row.pk).delete()
        return response
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=response.status_code,
        response_body=crypto.encrypt(bytes(response.content), purpose=_RESPONSE_PURPOSE).encode(),
        response_content_type=response.get("Content-Type", "application/json"),
        locked_at=None,
    )
    return response


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(created__lt=_expired_before()).delete()
    return deleted
