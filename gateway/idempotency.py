"""Idempotent POSTs, keys in PostgreSQL (after Stripe and Brandur Leach's design).

* The key row is inserted in its own short transaction before the handler runs; the unique
  constraint makes exactly one concurrent request the owner. Others see the row: still
  executing -> 409; finished -> the stored response replayed byte-for-byte.
* A different request (method, path or body) under a used key -> 422 ``idempotency_error``.
* Nothing is kept when the request fails validation before executing: the key is released.
* Keys expire after ``IDEMPOTENCY_KEY_TTL_HOURS``; an expired row is replaced on next use and
  purged by a periodic task.

Recovery (Brandur Leach's recovery points): a client must always learn the outcome of its request,
even when the process executing it died (SIGKILL, lost database connection).

* The service that creates or changes a money-moving object records it on the key row
  (``idempotency_recovery_point``) in the same transaction as the object, and only while this
  execution still owns the key (``claim_token``): of two executions of one key, at most one can
  ever commit an object.
* A 500 is never stored: the claim is released instead. A claim older than
  ``IDEMPOTENCY_REQUEST_DEADLINE_SECONDS`` belongs to a request that is no longer running.
* A retry finding a released or stale claim takes it over (compare-and-set on ``claim_token``).
  With a recovery point it answers the object's current state, first resolved by the owning
  app's recoverer (a status query, never a new charge); without one nothing was committed and
  the request runs again.

Fewer transactions on the hot path (``POST /v1/payments`` and its confirm, views that set
``idempotency_claim_deferred``: nothing durable happens in them before their recovery point, and
their success answer is the recovered object's representation):

* The claim is deferred: the key row is inserted by the recovery point itself, in the
  transaction that creates the payment (INSERT ... ON CONFLICT DO NOTHING). A concurrent request
  with the key, or an older row, makes that insert a no-op: this execution's transaction rolls
  back (409 raised inside it), its answer is discarded, and the request is answered like any
  request finding the key taken (409 in use, the replay, 422, or a take-over). A request that ends
  before any recovery point (a 4xx) stores its answer by inserting the row then.
* The answer is stored in the final transaction: the settlement of the processor's answer offers
  the object's representation (``idempotency_answer_offer``), stored with the change itself. After
  the view answered, the stored bytes are compared with the response; if they differ (a decline,
  another view's body) the response is stored as before.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from . import crypto
from .context import idempotency_claim_var, idempotency_key_var
from .errors import IDEMPOTENCY, ApiError, Conflict, InvalidRequest
from .models import IdempotencyKey
from .principal import Principal
from .statements import row_update, rows_insert

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
# An unexpected failure: never the stored answer (the request may have committed something first).
_UNEXPECTED = 500


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


def _deadline_passed_before():
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS)


@dataclass
class Claim:
    """The key held by the request being executed (``idempotency_claim_var``)."""

    row_id: int | None  # None: a deferred claim whose row is not inserted yet
    token: uuid.UUID
    row: dict[str, Any] | None = None  # a deferred claim's columns, inserted with the recovery point
    lost: bool = False  # a deferred claim found the key taken: this execution committed nothing
    recovery: tuple[str, str, int] | None = None  # (object type, id, status) of the recovery point
    answer: tuple[int, bytes] | None = None  # stored in the request's final transaction
    answers: str | None = None  # the kind of object the endpoint answers with (its recovery points)

    @property
    def deferred(self) -> bool:
        return self.row is not None


def _lookup(principal: Principal, key: str) -> dict[str, Any]:
    return {"merchant_id": principal.merchant_id, "scope": _scope(principal), "key": key}


def _claim_columns(request, fingerprint: str) -> dict[str, Any]:
    return {
        "request_method": request.method,
        "request_path": request.path[:500],
        "request_fingerprint": fingerprint,
        "locked_at": timezone.now(),
        "claim_token": uuid.uuid4(),
    }


def _insert_if_absent(columns: dict[str, Any]) -> int | None:
    """INSERT the key row unless (merchant, scope, key) exists (committed or not: waits for a
    concurrent insert to end); its id, or None. One statement."""
    inserted = rows_insert([IdempotencyKey(**columns)], on_conflict_do_nothing=["merchant_id", "scope", "key"])
    return inserted[0][0] if inserted else None


def _claim(*, principal: Principal, key: str, request, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    lookup = _lookup(principal, key)
    defaults = _claim_columns(request, fingerprint)
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


def _abandoned(row: IdempotencyKey) -> bool:
    """No request is executing under this key and none will store an answer: released after a
    500, or claimed longer than any request can run (its process died)."""
    if row.response_status is not None:
        return row.response_status == _UNEXPECTED  # stored by an older release: never the answer
    return row.locked_at is None or row.locked_at < _deadline_passed_before()


def _take_over(row: IdempotencyKey) -> IdempotencyKey | None:
    """Claim an abandoned key; None when another retry took it first. Waits for a transaction of
    the old owner that is writing the recovery point, so the row read after it is the truth."""
    token = uuid.uuid4()
    taken = IdempotencyKey.objects.filter(pk=row.pk, claim_token=row.claim_token, locked_at=row.locked_at).update(
        claim_token=token, locked_at=timezone.now(), response_status=None, response_body=None
    )
    if not taken:
        return None
    return IdempotencyKey.objects.filter(pk=row.pk).first()


# Stored responses can hold secrets shown once (webhook signing secrets, API objects with
# personal data): they are encrypted at rest like every other secret.
_RESPONSE_PURPOSE = "idempotency_response"


def _replay(row: IdempotencyKey) -> HttpResponse:
    body = crypto.decrypt(bytes(row.response_body).decode(), purpose=_RESPONSE_PURPOSE) if row.response_body else b""
    response = HttpResponse(body, status=row.response_status, content_type=row.response_content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def _owner(row: IdempotencyKey | Claim) -> tuple[int | None, uuid.UUID | None]:
    """The key row's id and the claim token this execution holds it by."""
    return (row.row_id, row.token) if isinstance(row, Claim) else (row.pk, row.claim_token)


def _owned(row: IdempotencyKey | Claim):
    pk, token = _owner(row)
    return IdempotencyKey.objects.filter(pk=pk, claim_token=token)


def _owned_update(row: IdempotencyKey | Claim, **values: Any) -> int:
    """UPDATE the key row if this execution still owns it (its claim token): rows changed, 0 or 1."""
    pk, token = _owner(row)
    return row_update(IdempotencyKey, pk=pk, values=values, condition={"claim_token": token})


def _answer_columns(status: int, body: bytes, content_type: str) -> dict[str, Any]:
    return {
        "response_status": status,
        "response_body": crypto.encrypt(body, purpose=_RESPONSE_PURPOSE).encode(),
        "response_content_type": content_type,
        "locked_at": None,
    }


def _store(row: IdempotencyKey | Claim, response: HttpResponse) -> None:
    """Keep the answer for retries, unless another execution took the key over meanwhile."""
    _owned_update(
        row,
        **_answer_columns(
            response.status_code, bytes(response.content), response.get("Content-Type", "application/json")
        ),
    )


def _release(row: IdempotencyKey | Claim) -> None:
    """No stored answer and no running request: the next retry recovers (or runs again)."""
    _owned_update(row, locked_at=None)


# object type -> recoverer(merchant_id=, livemode=, object_id=) -> (API representation, settled).
# Registered by the app owning the objects (``PaymentsConfig.ready``): gateway imports no app.
Recoverer = Callable[..., tuple[dict[str, Any], bool]]
_recoverers: dict[str, Recoverer] = {}


def idempotency_recoverer_register(object_type: str, recoverer: Recoverer) -> None:
    _recoverers[object_type] = recoverer


def idempotency_recovery_point(*, object_type: str, object_id: str, created: bool) -> None:
    """Record, inside the caller's transaction, the object the idempotent request being executed
    created (``created``) or changed. Raises 409 ``idempotency_key_in_use`` when a retry took the
    key over (this execution was presumed dead): the caller's transaction then rolls back and
    the object exists at most once. Outside an idempotent request it does nothing."""
    claim: Claim | None = idempotency_claim_var.get()
    if claim is None:
        return
    if claim.answers != object_type:
        # A service called on the way to another kind of answer (expiring a checkout session
        # cancels its payment): that object is not this request's answer, so it is no recovery
        # point; the write still takes the key row and proves this execution still owns it.
        if claim.row_id is not None and not _owned_update(claim, claim_token=claim.token):
            raise Conflict(
                "This request's Idempotency-Key was taken over by a retry; nothing was done here.",
                error_type=IDEMPOTENCY,
                code="idempotency_key_in_use",
            )
        return
    point = {
        "recovery_object_type": object_type,
        "recovery_object_id": object_id,
        "recovery_status": 201 if created else 200,
    }
    if claim.deferred and claim.row_id is None:
        # The claim and the recovery point in one INSERT, in the transaction of the object.
        # locked_at: now, the request deadline runs from the moment the key is held.
        held = {"claim_token": claim.token, "locked_at": timezone.now()}
        claim.row_id = _insert_if_absent({**claim.row, **held, **point})
        recorded = claim.row_id is not None
        claim.lost = not recorded
    else:
        recorded = _owned_update(claim, **point)
    if recorded:
        claim.recovery = (object_type, object_id, point["recovery_status"])
    else:
        raise Conflict(
            "This request's Idempotency-Key was taken over by a retry; nothing was done here.",
            error_type=IDEMPOTENCY,
            code="idempotency_key_in_use",
        )


def idempotency_answer_offer(*, object_type: str, object_id: str, data: dict[str, Any]) -> None:
    """Inside the request's final transaction (the one settling its processor call): store as the
    request's answer the representation ``data`` of the object its recovery point names, with the
    recovery point's status, so no transaction follows to store it. Only for views whose success
    answer is that representation (deferred claims); checked against the actual response later."""
    claim: Claim | None = idempotency_claim_var.get()
    if claim is None or not claim.deferred or claim.recovery is None or claim.lost:
        return
    if claim.recovery[:2] != (object_type, object_id):
        return
    status = claim.recovery[2]
    body = JSONRenderer().render(data)
    if _owned_update(claim, **_answer_columns(status, body, "application/json")):
        claim.answer = (status, body)


def _recover(row: IdempotencyKey) -> HttpResponse:
    """Answer with the recovered object's current state (resolved by its app first). Stored only
    once the object is settled; until then every retry reads it again."""
    recoverer = _recoverers[row.recovery_object_type]
    try:
        data, settled = recoverer(
            merchant_id=row.merchant_id, livemode=row.scope.startswith("live:"), object_id=row.recovery_object_id
        )
    except BaseException:
        _release(row)
        raise
    response = JsonResponse(data, status=row.recovery_status or 200, json_dumps_params={"separators": (",", ":")})
    if settled:
        _store(row, response)
    else:
        _release(row)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent_execute(
    *,
    request,
    principal: Principal,
    key: str,
    execute: Callable[[], HttpResponse],
    answers: str | None = None,
    deferred: bool = False,
):
    """Run ``execute`` at most once per key. ``answers``: the kind of object the endpoint answers
    with (``payment``, ``refund``), the only kind it takes a recovery point for (see
    ``idempotency_recovery_point``); None for endpoints answered by running them again.
    ``deferred``: the view's claim is inserted by its recovery point (see the module's docstring)."""
    fingerprint = request_fingerprint(request)
    if deferred:
        response = _execute_deferred(
            request=request, principal=principal, key=key, execute=execute, fingerprint=fingerprint, answers=answers
        )
        if response is not None:
            return response
        # The key was taken (by a concurrent request, or an older row): nothing of this execution
        # was committed; answer as any request finding the key taken.
    row, owner = _claim(principal=principal, key=key, request=request, fingerprint=fingerprint)
    if not owner:
        if row.request_fingerprint != fingerprint:
            raise ApiError(
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                status_code=422,
                error_type=IDEMPOTENCY,
                code="idempotency_key_reused",
            )
        if not _abandoned(row):
            if row.response_status is None:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    error_type=IDEMPOTENCY,
                    code="idempotency_key_in_use",
                )
            return _replay(row)
        row = _take_over(row)
        if row is None:
            raise Conflict(
                "A request with this Idempotency-Key is being recovered; retry later.",
                error_type=IDEMPOTENCY,
                code="idempotency_key_in_use",
            )
        if row.recovery_object_id and row.recovery_object_type in _recoverers:
            return _recover(row)

    claim = Claim(row_id=row.pk, token=row.claim_token, answers=answers)
    response = _run(claim, key, execute)
    if getattr(request._request, "gateway_validation_failed", False):
        _owned(row).delete()
        return response
    if response.status_code == _UNEXPECTED:
        # Possibly after something committed (the database connection died mid-request): the
        # answer is whatever the recovery point says, so a retry recovers instead of replaying this.
        _release(row)
        return response
    _store(row, response)
    return response


def _run(claim: Claim, key: str, execute: Callable[[], HttpResponse]) -> HttpResponse:
    key_token = idempotency_key_var.set(key)
    claim_token = idempotency_claim_var.set(claim)
    try:
        # Ordinary exceptions become responses inside execute(). Anything escaping it (a worker
        # timeout's SystemExit, KeyboardInterrupt) may have interrupted a processor call, so the key
        # stays claimed until the request deadline; a retry then recovers from the recovery point.
        return execute()
    finally:
        idempotency_claim_var.reset(claim_token)
        idempotency_key_var.reset(key_token)


def _execute_deferred(
    *,
    request,
    principal: Principal,
    key: str,
    execute: Callable[[], HttpResponse],
    fingerprint: str,
    answers: str | None,
) -> HttpResponse | None:
    """Execute with the claim inserted by the recovery point; None when the key was found taken."""
    claim = Claim(
        row_id=None,
        token=uuid.uuid4(),
        row={**_lookup(principal, key), **_claim_columns(request, fingerprint)},
        answers=answers,
    )
    response = _run(claim, key, execute)
    if claim.lost:
        return None
    if claim.row_id is None:
        # No recovery point was reached: nothing durable happened. Keep the answer (a 4xx) by
        # inserting the row now, unless validation refused the request or it failed unexpectedly.
        if getattr(request._request, "gateway_validation_failed", False) or response.status_code == _UNEXPECTED:
            return response
        answer = _answer_columns(
            response.status_code, bytes(response.content), response.get("Content-Type", "application/json")
        )
        if _insert_if_absent({**claim.row, "claim_token": claim.token, **answer}) is None:
            return None
        return response
    if getattr(request._request, "gateway_validation_failed", False):
        _owned(claim).delete()
        return response
    if response.status_code == _UNEXPECTED:
        _release(claim)
        return response
    if claim.answer != (response.status_code, bytes(response.content)) or (
        response.get("Content-Type", "application/json") != "application/json"
    ):
        # Not the answer stored with the settlement (a decline, an open outcome, a cancel after it).
        # If the transaction holding the claim rolled back, this updates nothing and the next retry
        # runs the request again (nothing of this one was committed).
        _store(claim, response)
    return response


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(created__lt=_expired_before()).delete()
    return deleted
