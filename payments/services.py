"""Writes of the payments app: the payment life cycle, refunds, status sync, and the ledger check.

Every operation that calls a processor runs in three steps, so no row lock is held during the
call and no outcome is ever lost:

1. a transaction locks the rows (order -> payment), checks the transition, writes an attempt row
   (its id is the processor's idempotency key) and moves the payment to ``processing``; commit;
2. the connector is called, outside any transaction;
3. a transaction locks the rows again and applies the result through the state table; the ledger
   posting, the order update and the event rows commit together with it.

A crash between 2 and 3 leaves the attempt ``started`` with ``next_sync_at`` in the near future:
the janitor (``payments_sync_due``) then asks the processor what happened. An UNKNOWN outcome
(timeout, lost reply) is never retried with a new reference and never treated as a decline: the
attempt is ``unknown``, the payment stays ``processing``, and the status sync settles it.

Attempts and refunds of a payment change only while its row is locked.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from customers.selectors import customer_get
from events.services import event_record
from gateway.errors import API, CARD, ApiError, Conflict, InvalidRequest, NotFound, not_found
from gateway.ids import looks_like_id
from gateway.money import amount_validate, currency_validate
from ledger.selectors import ledger_problems, payment_ledger_totals
from ledger.services import ledger_post_capture, ledger_post_refund
from orders.selectors import order_outstanding
from orders.services import order_lock, order_mark_paid, order_record_refund
from processors.base import AuthorizeRequest, CardDetails, Connector, Outcome, ProcessorResult, WebhookEvent
from processors.selectors import RouteEntry, connector_for_account, route_for

from . import vault
from .cache import payment_cache_invalidate
from .cards import ValidatedCard, card_validate
from .models import (
    ORDER_BLOCKING_STATUSES,
    UNRESOLVED_ATTEMPT_STATUSES,
    AttemptOperation,
    AttemptStatus,
    CaptureMethod,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodType,
    PaymentStatus,
    ProcessorState,
    Refund,
    RefundReason,
    RefundStatus,
)
from .serializers import payment_data, refund_data
from .state import EVENT_FOR_STATUS, payment_transition, payment_unexpected_state, transition_allowed
from .tokenization import payment_method_for_use

logger = logging.getLogger("payments")

Op = AttemptOperation
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
# Raw processor statuses meaning "the authorization was released" in a status report.
VOIDED_RAW_STATUSES = frozenset({"canceled", "cancelled", "voided"})


class PaymentDeclined(ApiError):
    status_code = 402
    error_type = CARD
    code = "card_declined"
    default_message = "The payment was declined."


class ProcessorUnavailable(ApiError):
    status_code = 503
    error_type = API
    code = "processor_unavailable"
    default_message = "No payment processor could take the request; nothing was charged. Retry later."


class ProcessorRefused(Conflict):
    code = "processor_refused"


class InvalidInput(InvalidRequest):
    """Refused on the request alone, before anything executed (the API then keeps no idempotency key)."""


def _input_checked(check: Callable[..., Any], *args, **kwargs) -> Any:
    try:
        return check(*args, **kwargs)
    except InvalidInput:
        raise
    except InvalidRequest as exc:
        raise InvalidInput(exc.message, code=exc.code, param=exc.param) from None


# --- payment method input -------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodInput:
    """A parsed ``payment_method`` parameter. Holds the validated card (with CVC) in memory only."""

    type: str  # card | paypal | saved
    card: ValidatedCard | None = None
    payment_method_id: str | None = None

    def __repr__(self) -> str:
        return f"MethodInput({self.type}, {self.payment_method_id or ''})"

    __str__ = __repr__


def payment_method_parse(value: object, *, param: str = "payment_method") -> MethodInput | None:
    return _input_checked(_payment_method_parse, value, param=param)


def _payment_method_parse(value: object, *, param: str) -> MethodInput | None:
    """``"pm_..."`` | ``{"type": "card", "card": {...}}`` | ``{"type": "paypal"}`` -> MethodInput.

    Card failures are 400s naming the field (``payment_method.card.number``...). No message ever
    repeats what was sent: it may be a card number.
    """
    if value is None or isinstance(value, MethodInput):
        return value
    if isinstance(value, str):
        if not looks_like_id(value, "pm"):
            raise InvalidRequest(
                f"{param} must be the id of a saved payment method (pm_...) or an object with a type.",
                code="resource_missing",
                param=param,
            )
        return MethodInput("saved", payment_method_id=value)
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"{param} must be a pm_ id or an object with a type.", code="parameter_invalid", param=param
        )
    for key in value:
        if key not in ("type", "card"):
            raise InvalidRequest(f"Received unknown parameter in {param}.", code="parameter_unknown", param=param)
    kind = value.get("type")
    if kind == PaymentMethodType.PAYPAL:
        if "card" in value:
            raise InvalidRequest(
                "A paypal payment method takes no card.", code="parameter_unknown", param=f"{param}.card"
            )
        return MethodInput("paypal")
    if kind == PaymentMethodType.CARD:
        card = value.get("card")
        if not isinstance(card, dict):
            raise InvalidRequest(
                f"{param}.card is required for a card.", code="parameter_missing", param=f"{param}.card"
            )
        for key in card:
            if key not in ("number", "exp_month", "exp_year", "cvc"):
                raise InvalidRequest(
                    f"Received unknown parameter in {param}.card.", code="parameter_unknown", param=f"{param}.card"
                )
        validated = card_validate(
            number=card.get("number"),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
            cvc=card.get("cvc"),
            param_prefix=f"{param}.card",
        )
        return MethodInput("card", card=validated)
    raise InvalidRequest(f"{param}.type must be card or paypal.", code="parameter_invalid", param=f"{param}.type")


# --- helpers ------------------------------------------------------------------------------------


def _now():
    return timezone.now()


def payment_return_url(payment_id: str) -> str:
    """Where the processor sends the customer's browser back (our return endpoint)."""
    return f"{settings.PAYMENTS_PUBLIC_BASE_URL.rstrip('/')}/v1/payments/{payment_id}/return"


def _return_url_validate(value: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("return_url must be an absolute http(s) URL.", code="parameter_invalid", param="return_url")
    return value


def _payment_read(*, merchant_id: str, payment_id: str, livemode: bool, param: str | None = "id") -> Payment:
    payment = Payment.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id, param=param)
    return payment


def _payment_for_update(*, payment_id: str, merchant_id: str | None = None, livemode: bool | None = None) -> Payment:
    queryset = Payment.objects.select_for_update().filter(pk=payment_id)
    if merchant_id is not None:
        queryset = queryset.filter(merchant_id=merchant_id)
    if livemode is not None:
        queryset = queryset.filter(livemode=livemode)
    payment = queryset.first()
    if payment is None:
        raise not_found("payment", payment_id)
    return payment


def _order_id_of(*, merchant_id: str, payment_id: str, livemode: bool) -> str | None:
    row = Payment.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=payment_id).values_list(
        "order_id", flat=True
    )
    found = list(row[:1])
    if not found:
        raise not_found("payment", payment_id)
    return found[0]


def _record(payment: Payment, event_type: str | None) -> None:
    """After saving a change: its event row (same transaction) and the cache invalidation."""
    if event_type:
        event_record(
            merchant_id=payment.merchant_id, type=event_type, data=payment_data(payment), livemode=payment.livemode
        )
    payment_cache_invalidate(payment_id=payment.id)


def _move(payment: Payment, action: str, to: str | None = None) -> str:
    """Apply a transition; returns the event type it publishes."""
    return EVENT_FOR_STATUS[payment_transition(payment, action, to)]


def _inflight_deadline():
    return _now() + timedelta(seconds=settings.PAYMENTS_INFLIGHT_TIMEOUT_SECONDS)


def _attempt_new(
    payment: Payment, *, operation: str, account_id: str, processor: str, amount: int, processor_reference: str = ""
) -> PaymentAttempt:
    """An unsaved attempt; ``origin_status`` is the payment's status before the operation."""
    return PaymentAttempt(
        merchant_id=payment.merchant_id,
        payment=payment,
        operation=operation,
        origin_status=payment.status,
        processor=processor,
        processor_account_id=account_id,
        processor_reference=processor_reference,
        amount=amount,
        status=AttemptStatus.STARTED,
        next_sync_at=_inflight_deadline(),
    )


def _follow_up_begin(payment: Payment, *, operation: str, action: str, amount: int) -> PaymentAttempt:
    """Start a capture, void or complete on the processor and account that hold the payment (the
    caller holds the row lock): the attempt, the move to ``processing`` and its event, saved."""
    attempt = _attempt_new(
        payment,
        operation=operation,
        account_id=payment.processor_account_id,
        processor=payment.processor,
        amount=amount,
        processor_reference=payment.processor_reference,
    )
    payment_transition(payment, action)
    payment.save()
    attempt.save(force_insert=True)
    _record(payment, "payment.processing")
    return attempt


def _connector(*, merchant_id: str, account_id: str) -> Connector | None:
    """The account's connector, or None when it cannot be built (account gone, credentials no
    longer decryptable after a key rotation...): a call is then not made, a status read is
    inconclusive, and either way the attempt keeps its schedule instead of the error escaping."""
    try:
        return connector_for_account(merchant_id=merchant_id, account_id=account_id)
    except LookupError:
        logger.error("processor account not found", extra={"processor_account_id": account_id})
    except Exception:
        logger.exception("processor connector could not be built", extra={"processor_account_id": account_id})
    return None


def _call(reference: str, connector: Connector | None, call: Callable[[Connector], ProcessorResult]) -> ProcessorResult:
    """One connector call. A missing account is "not processed"; an exception (a connector bug)
    is an unknown outcome, since the request may have reached the processor."""
    if connector is None:
        return ProcessorResult(
            outcome=Outcome.FAILED, error_code="processor_account_missing", message="The processor account is gone."
        )
    started = time.monotonic()
    try:
        result = call(connector)
    except Exception:
        logger.exception("processor call raised; outcome unknown", extra={"reference": reference})
        result = ProcessorResult(
            outcome=Outcome.UNKNOWN, error_code="connector_error", message="The processor call failed unexpectedly."
        )
    if result.latency_ms is None:
        result = replace(result, latency_ms=int((time.monotonic() - started) * 1000))
    return result


def _schedule(kind: str, tries_done: int):
    """(next_sync_at, flagged_at) after ``tries_done`` status queries for an unknown/pending operation."""
    delays = (
        settings.PAYMENTS_SYNC_SCHEDULE_SECONDS
        if kind == "unknown"
        else settings.PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS
    )
    if tries_done >= len(delays):
        return None, _now()
    return _now() + timedelta(seconds=delays[tries_done]), None


# --- outcome interpretation -----------------------------------------------------------------------

# States an outcome can put an operation in (see _interpret).
CAPTURED, AUTHORIZED, VOIDED, ACTION, DECLINED, REFUSED, NOT_PROCESSED, UNKNOWN, PENDING = (
    "captured", "authorized", "voided", "requires_action", "declined", "refused", "not_processed", "unknown", "pending",
)  # fmt: skip

_ATTEMPT_STATUS_FOR_STATE = {
    CAPTURED: AttemptStatus.SUCCEEDED,
    AUTHORIZED: AttemptStatus.SUCCEEDED,
    VOIDED: AttemptStatus.SUCCEEDED,
    ACTION: AttemptStatus.REQUIRES_ACTION,
    DECLINED: AttemptStatus.DECLINED,
    REFUSED: AttemptStatus.DECLINED,
    NOT_PROCESSED: AttemptStatus.FAILED,
    UNKNOWN: AttemptStatus.UNKNOWN,
    PENDING: AttemptStatus.PENDING,
}


def _interpret(*, operation: str, result: ProcessorResult, source: str, capture_requested: bool) -> str:
    """What a result means for the operation.

    ``source`` "call": the answer to the operation's own call. "sync"/"webhook": a report of the
    charge's current state (``status()``, a processor notification): SUCCEEDED then says where
    the charge stands (captured if ``amount_captured`` > 0, released if ``raw_status`` is
    canceled/voided, else authorized).
    """
    outcome = result.outcome
    if outcome == Outcome.UNKNOWN:
        return UNKNOWN
    if outcome == Outcome.PENDING:
        return PENDING
    if outcome == Outcome.FAILED:
        return NOT_PROCESSED
    report = source != "call"
    if outcome == Outcome.REQUIRES_ACTION:
        return NOT_PROCESSED if operation == Op.VOID and report else ACTION
    if outcome == Outcome.DECLINED:
        if operation in (Op.AUTHORIZE, Op.COMPLETE):
            return DECLINED
        if operation == Op.VOID and report:
            return VOIDED  # a declined charge holds nothing: the void's goal is met
        return REFUSED
    # SUCCEEDED
    if not report and operation == Op.VOID:
        return VOIDED
    if not report and operation == Op.CAPTURE:
        return CAPTURED
    if (result.raw_status or "").lower() in VOIDED_RAW_STATUSES:
        return VOIDED
    if result.amount_captured > 0:
        return CAPTURED
    if operation in (Op.CAPTURE, Op.VOID):
        return NOT_PROCESSED  # the charge is still only authorized: our capture/void did not happen
    if not report and result.amount_authorized == 0:
        # A call that succeeded without reporting amounts did what was asked.
        return CAPTURED if capture_requested else AUTHORIZED
    return AUTHORIZED


# --- settling a processor result ----------------------------------------------------------------


@dataclass
class Settlement:
    payment: Payment
    state: str | None  # None: the attempt had been settled already (by the janitor or a webhook)
    attempt: PaymentAttempt


def _attempt_fields(attempt: PaymentAttempt, result: ProcessorResult, state: str, source: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": _ATTEMPT_STATUS_FOR_STATE[state],
        "raw_status": (result.raw_status or "")[:64],
        "error_code": (result.error_code or "")[:64],
        "decline_code": (result.decline_code or "")[:64],
        "error_message": (result.message or "")[:500],
        "processor_reference": result.processor_reference or attempt.processor_reference,
        "next_sync_at": None,
        "updated": _now(),
    }
    if source == "call":
        fields["latency_ms"] = result.latency_ms
    if state == ACTION:
        # Nobody may bring the customer back: poll the processor if the payment is still waiting then.
        fields["sync_attempts"] = 0
        fields["next_sync_at"] = _now() + timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS)
    elif state not in (UNKNOWN, PENDING) and source != "call":
        fields["flagged_at"] = (
            None  # resolved now (sync or webhook); a flag from an exhausted schedule no longer applies
        )
    if state in (UNKNOWN, PENDING):
        # "sync" queries were counted before the settle, in their own transaction (_sync_try_record).
        tries = 0 if source == "call" else attempt.sync_attempts
        if state == PENDING and attempt.status != AttemptStatus.PENDING:
            tries = 0  # a new wait, on the pending schedule
        fields["sync_attempts"] = tries
        fields["next_sync_at"], fields["flagged_at"] = _schedule(state, tries)
        if fields["flagged_at"] is not None:
            logger.warning(
                "payment operation still unresolved after the last status query; flagged for an operator",
                extra={"attempt_id": attempt.id, "payment_id": attempt.payment_id},
            )
    return fields


def _settle(*, payment: Payment, attempt: PaymentAttempt, result: ProcessorResult, source: str) -> Settlement:
    state = _interpret(
        operation=attempt.operation,
        result=result,
        source=source,
        capture_requested=payment.capture_method == CaptureMethod.AUTOMATIC,
    )
    with transaction.atomic():
        order = (
            order_lock(merchant_id=payment.merchant_id, order_id=payment.order_id, livemode=payment.livemode)
            if payment.order_id
            else None
        )
        payment = _payment_for_update(payment_id=payment.id)
        fields = _attempt_fields(attempt, result, state, source)
        claimed = PaymentAttempt.objects.filter(pk=attempt.id, status__in=UNRESOLVED_ATTEMPT_STATUSES).update(**fields)
        if not claimed:
            _late_result_check(attempt=attempt, state=state)
            return Settlement(payment, None, attempt)
        for name, value in fields.items():
            setattr(attempt, name, value)
        if state in (UNKNOWN, PENDING):
            return Settlement(payment, state, attempt)  # stays processing; the janitor asks again
        event_type = _apply(payment=payment, attempt=attempt, result=result, state=state, order=order)
        payment.save()
        _record(payment, event_type)
        return Settlement(payment, state, attempt)


# Settled attempt statuses under which no money moved; a later report that it did needs an operator.
_NO_MONEY_MOVED_STATUSES = frozenset({AttemptStatus.FAILED, AttemptStatus.DECLINED, AttemptStatus.REQUIRES_ACTION})


def _late_result_check(*, attempt: PaymentAttempt, state: str) -> None:
    """A result for an attempt already settled. Harmless when they agree; if the processor says
    money moved but the attempt was settled as declined, not processed or waiting for the
    customer, the books and the processor disagree and an operator must reconcile."""
    current = PaymentAttempt.objects.filter(pk=attempt.id).values_list("status", flat=True).first()
    money_moved = state in (CAPTURED, AUTHORIZED)
    if (current in _NO_MONEY_MOVED_STATUSES and money_moved) or (current == AttemptStatus.FAILED and state == ACTION):
        PaymentAttempt.objects.filter(pk=attempt.id).update(flagged_at=_now(), updated=_now())
        logger.error(
            "processor reported success for an attempt already settled without it",
            extra={"attempt_id": attempt.id, "payment_id": attempt.payment_id},
        )


def _apply(*, payment: Payment, attempt: PaymentAttempt, result: ProcessorResult, state: str, order) -> str:
    """Move the locked payment by the settled state; returns the event type to publish."""
    if attempt.operation in (Op.AUTHORIZE, Op.COMPLETE) and state != NOT_PROCESSED:
        payment.processor = attempt.processor
        payment.processor_account_id = attempt.processor_account_id
        payment.processor_reference = attempt.processor_reference or payment.processor_reference

    if state == ACTION:
        payment.next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": result.redirect_url, "return_url": payment.return_url or None},
        }
        return _move(payment, "action_required")

    if state == AUTHORIZED:
        authorized = min(payment.amount, result.amount_authorized or payment.amount)
        payment.amount_authorized = authorized
        payment.amount_capturable = authorized
        payment.next_action = None
        payment.last_payment_error = None
        event_type = _move(payment, "authorized")
        _method_after_use(payment)
        return event_type

    if state == CAPTURED:
        captured = result.amount_captured or attempt.amount
        payment.amount_authorized = min(
            payment.amount, max(payment.amount_authorized, result.amount_authorized, captured)
        )
        payment.amount_received = captured
        payment.amount_capturable = 0
        payment.next_action = None
        payment.last_payment_error = None
        event_type = _move(payment, "captured")
        ledger_post_capture(
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            capture_ref=attempt.id,
            amount=captured,
            currency=payment.currency,
        )
        if order is not None:
            _order_paid(order=order, payment=payment, amount=captured)
        _method_after_use(payment)
        return event_type

    if state == VOIDED:
        payment.amount_capturable = 0
        payment.next_action = None
        payment.canceled_at = _now()
        event_type = _move(payment, "voided")
        _method_after_use(payment)
        return event_type

    if state == DECLINED:
        payment.decline_count += 1
        payment.next_action = None
        payment.last_payment_error = {
            "type": CARD,
            "code": result.error_code or "card_declined",
            "decline_code": result.decline_code or None,
            "message": result.message or "The payment was declined.",
        }
        final = payment.decline_count >= settings.PAYMENTS_MAX_DECLINES
        _move(payment, "declined_final" if final else "declined")
        if final:
            _method_after_use(payment)
        return "payment.failed"

    # NOT_PROCESSED or REFUSED: nothing happened at the processor; back to where the operation began.
    target = (
        PaymentStatus.REQUIRES_PAYMENT_METHOD
        if attempt.origin_status
        in (
            PaymentStatus.REQUIRES_PAYMENT_METHOD,
            PaymentStatus.REQUIRES_CONFIRMATION,
        )
        else attempt.origin_status
    )
    if attempt.operation == Op.AUTHORIZE:
        payment.last_payment_error = {
            "type": API,
            "code": "processor_unavailable",
            "decline_code": None,
            "message": "No payment processor could take the request; nothing was charged.",
        }
    # Back where it was: the status event (e.g. payment.authorized) already went out once.
    payment_transition(payment, "not_processed", to=target)
    if attempt.operation == Op.COMPLETE and target == PaymentStatus.REQUIRES_ACTION:
        _requires_action_poll_rearm(payment_id=payment.id)
    return "payment.updated"


def _requires_action_poll_rearm(*, payment_id: str) -> None:
    """A complete() that provably did not happen put the payment back in requires_action, but the
    customer may well have acted (the processor may hold the money): never leave it without a
    poll. After the last poll it is flagged instead, since nobody knows whether money moved."""
    latest = (
        PaymentAttempt.objects.filter(payment_id=payment_id, status=AttemptStatus.REQUIRES_ACTION)
        .order_by("-id")
        .first()
    )
    if latest is None:
        return
    fields: dict[str, Any] = {"updated": _now()}
    if latest.sync_attempts >= settings.PAYMENTS_REQUIRES_ACTION_POLL_MAX:
        fields["next_sync_at"], fields["flagged_at"] = None, _now()
        logger.warning(
            "payment waiting for the customer could not be completed after the last poll; flagged",
            extra={"attempt_id": latest.id, "payment_id": payment_id},
        )
    else:
        fields["next_sync_at"] = _requires_action_poll_next(latest.sync_attempts)
    PaymentAttempt.objects.filter(pk=latest.id).update(**fields)


def _requires_action_poll_next(tries: int):
    return _now() + timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_POLL_SECONDS * 2**tries)


def _order_paid(*, order, payment: Payment, amount: int) -> None:
    """Captured money always books; if the order can no longer take it (canceled or paid
    meanwhile), the payment is flagged for an operator instead of losing the capture."""
    if amount <= order_outstanding(order=order) and order.currency == payment.currency:
        order_mark_paid(order=order, amount=amount)
        return
    payment.review_reason = "order_not_payable"
    logger.error(
        "captured a payment its order could not take; flagged for review",
        extra={"payment_id": payment.id, "order_id": order.id},
    )


def _method_after_use(payment: Payment) -> None:
    """Attach the card to the customer when asked to; otherwise a single-use vaulted card is
    erased as soon as the processor no longer needs it."""
    if not payment.payment_method_id:
        return
    single_use = PaymentMethod.objects.filter(pk=payment.payment_method_id, customer__isnull=True)
    if payment.save_payment_method and payment.customer_id:
        single_use.update(customer_id=payment.customer_id, updated=_now())
    else:
        single_use.exclude(vault_token="").update(vault_token="", updated=_now())


def _raise_for(settlement: Settlement) -> None:
    """After the commit: turn a decline or an unprocessed call into the API's error."""
    payment = settlement.payment
    if settlement.state == DECLINED:
        error = payment.last_payment_error or {}
        raise PaymentDeclined(
            error.get("message"),
            code=error.get("code") or "card_declined",
            param="payment_method",
            extra={"decline_code": error.get("decline_code"), "payment": payment_data(payment)},
        )
    if settlement.state == NOT_PROCESSED:
        raise ProcessorUnavailable(extra={"payment": payment_data(payment)})
    if settlement.state == REFUSED:
        raise ProcessorRefused(
            f"The processor refused the operation: {settlement.attempt.error_message or 'no reason given'}",
            extra={"payment": payment_data(payment)},
        )


# --- payment method use ---------------------------------------------------------------------------


def _snapshot(payment: Payment, *, type: str, brand: str = "", last4: str = "", exp_month=None, exp_year=None,
              fingerprint: str = "") -> None:  # fmt: skip
    payment.payment_method_type = type
    payment.card_brand, payment.card_last4 = brand, last4
    payment.card_exp_month, payment.card_exp_year = exp_month, exp_year
    payment.card_fingerprint = fingerprint


def _method_use(payment: Payment, method: MethodInput | None, *, vault_card: bool) -> CardDetails | None:
    """Set the payment's method from the input (or its attached one); returns the card for the
    processor call. A card is vaulted (``PaymentMethod``) when it must outlive this request."""
    if method is None:
        if payment.payment_method_type == PaymentMethodType.PAYPAL:
            return None
        if payment.payment_method_id:
            stored = PaymentMethod.objects.filter(pk=payment.payment_method_id, detached_at__isnull=True).first()
            if stored is not None and stored.vault_token:
                return vault.card_decrypt(stored.vault_token)
        raise InvalidRequest(
            "A payment_method is required to confirm this payment.", code="parameter_missing", param="payment_method"
        )

    if method.type == "paypal":
        if payment.save_payment_method:
            raise InvalidRequest("Only cards can be saved.", code="parameter_invalid", param="save_payment_method")
        _snapshot(payment, type=PaymentMethodType.PAYPAL)
        payment.payment_method = None
        return None

    if method.type == "saved":
        # A customer's saved method, or a browser-tokenized single-use one (claimed here).
        stored = payment_method_for_use(
            merchant_id=payment.merchant_id, livemode=payment.livemode, payment_method_id=method.payment_method_id
        )
        if stored is None or (stored.type == PaymentMethodType.CARD and not stored.vault_token):
            raise not_found("payment_method", method.payment_method_id, param="payment_method")
        if stored.customer_id is not None and stored.customer_id != payment.customer_id:
            raise InvalidRequest(
                "This payment method belongs to a customer; pass that customer with the payment.",
                code="payment_method_customer_mismatch",
                param="payment_method",
            )
        _snapshot(
            payment,
            type=stored.type,
            brand=stored.card_brand,
            last4=stored.card_last4,
            exp_month=stored.card_exp_month,
            exp_year=stored.card_exp_year,
            fingerprint=stored.card_fingerprint,
        )
        payment.payment_method = stored
        if stored.customer_id is not None:
            payment.save_payment_method = False  # it is saved already
        return vault.card_decrypt(stored.vault_token) if stored.type == PaymentMethodType.CARD else None

    card = method.card
    assert card is not None
    fingerprint = vault.card_fingerprint(card.number)
    _snapshot(
        payment,
        type=PaymentMethodType.CARD,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=fingerprint,
    )
    if payment.save_payment_method and not payment.customer_id:
        raise InvalidRequest("save_payment_method needs a customer.", code="parameter_missing", param="customer")
    if vault_card or payment.save_payment_method:
        payment.payment_method = PaymentMethod.objects.create(
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            type=PaymentMethodType.CARD,
            card_brand=card.brand,
            card_last4=card.last4,
            card_exp_month=card.exp_month,
            card_exp_year=card.exp_year,
            card_fingerprint=fingerprint,
            vault_token=vault.card_encrypt(number=card.number, exp_month=card.exp_month, exp_year=card.exp_year),
        )
    else:
        payment.payment_method = None
    return card.to_card_details()


# --- orders ---------------------------------------------------------------------------------------


def _order_check(*, order, payment: Payment) -> None:
    """With an order: the payment must be for exactly what is outstanding, and the only one in flight."""
    outstanding = order_outstanding(order=order)
    if outstanding <= 0:
        raise Conflict(
            f"Order {order.id} has nothing outstanding (status '{order.status}').",
            code="order_not_payable",
            param="order",
        )
    if payment.currency != order.currency:
        raise InvalidRequest(
            f"currency must be the order's currency ({order.currency}).", code="currency_mismatch", param="currency"
        )
    if payment.amount != outstanding:
        raise InvalidRequest(
            f"amount ({payment.amount}) must equal the order's outstanding total ({outstanding}).",
            code="amount_mismatch",
            param="amount",
        )
    other = (
        Payment.objects.filter(merchant_id=payment.merchant_id, order_id=order.id, status__in=ORDER_BLOCKING_STATUSES)
        .exclude(pk=payment.pk)
        .values_list("id", flat=True)
        .first()
    )
    if other is not None:
        raise Conflict(
            f"Another payment for this order is in progress ({other}).", code="order_payment_in_progress", param="order"
        )


# --- the life cycle -------------------------------------------------------------------------------


def _confirm_begin(*, payment: Payment, method: MethodInput | None) -> tuple[PaymentAttempt, CardDetails | None, list]:
    """Step 1 of a confirmation (inside the caller's transaction, payment locked or new)."""
    if not transition_allowed(payment.status, "confirm"):
        raise payment_unexpected_state(payment, "confirm")
    card = _method_use(payment, method, vault_card=False)
    route: list[RouteEntry] = route_for(
        merchant_id=payment.merchant_id,
        payment_method_type=payment.payment_method_type,
        currency=payment.currency,
        livemode=payment.livemode,
    )
    if not route:
        raise ProcessorUnavailable(
            f"No processor is configured for {payment.payment_method_type} in {payment.currency}."
        )
    first = route[0]
    attempt = _attempt_new(
        payment, operation=Op.AUTHORIZE, account_id=first.account_id, processor=first.processor, amount=payment.amount
    )
    payment_transition(payment, "confirm")
    payment.last_payment_error = None
    payment.next_action = None
    return attempt, card, route


def _authorize(*, payment: Payment, attempt: PaymentAttempt, route: list, card: CardDetails | None) -> Payment:
    """Steps 2 and 3 of a confirmation: try the route in order while calls provably fail."""
    index = 0
    while True:
        entry = route[index]
        request = AuthorizeRequest(
            reference=attempt.id,
            amount=payment.amount,
            currency=payment.currency,
            capture=payment.capture_method == CaptureMethod.AUTOMATIC,
            payment_method_type=payment.payment_method_type,
            return_url=payment_return_url(payment.id),
            card=card if payment.payment_method_type == PaymentMethodType.CARD else None,
            merchant_id=payment.merchant_id,
            description=payment.description,
            metadata=dict(payment.metadata or {}),
        )
        result = _call(attempt.id, entry.connector, lambda c, r=request: c.authorize(r))
        if result.outcome != Outcome.FAILED or index + 1 >= len(route):
            break
        index += 1
        following = _attempt_fail_over(payment=payment, failed=attempt, result=result, entry=route[index])
        if following is None:
            break
        attempt = following
    settlement = _settle(payment=payment, attempt=attempt, result=result, source="call")
    _raise_for(settlement)
    return settlement.payment


def _attempt_fail_over(
    *, payment: Payment, failed: PaymentAttempt, result: ProcessorResult, entry: RouteEntry
) -> PaymentAttempt | None:
    """Record the provably failed attempt and start one on the next processor of the route."""
    with transaction.atomic():
        _payment_for_update(payment_id=payment.id)
        fields = _attempt_fields(failed, result, NOT_PROCESSED, "call")
        if not PaymentAttempt.objects.filter(pk=failed.id, status=AttemptStatus.STARTED).update(**fields):
            return None
        following = PaymentAttempt(
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            operation=Op.AUTHORIZE,
            origin_status=failed.origin_status,
            processor=entry.processor,
            processor_account_id=entry.account_id,
            amount=payment.amount,
            next_sync_at=_inflight_deadline(),
        )
        following.save(force_insert=True)
        logger.info(
            "processor unavailable; falling back to the next route",
            extra={"payment_id": payment.id, "failed_account": failed.processor_account_id, "next": entry.account_id},
        )
        return following


def _customer_checked(*, merchant_id: str, customer_id: str, livemode: bool):
    try:
        customer = customer_get(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
    except NotFound:
        raise not_found("customer", customer_id, param="customer") from None
    if customer.is_erased:
        raise InvalidRequest("This customer's data was erased.", code="customer_erased", param="customer")
    return customer


def _order_locked(*, merchant_id: str, order_id: str, livemode: bool):
    try:
        return order_lock(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
    except NotFound:
        raise not_found("order", order_id, param="order") from None


def payment_create(
    *,
    merchant_id: str,
    amount: int | None = None,
    currency: str | None = None,
    capture_method: str = CaptureMethod.AUTOMATIC,
    order_id: str | None = None,
    customer_id: str | None = None,
    payment_method: object = None,
    confirm: bool = False,
    save_payment_method: bool = False,
    return_url: str = "",
    description: str = "",
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> Payment:
    """Create a payment; with ``confirm`` and a payment method, confirm it in the same call.

    With an order, amount and currency default to (and must equal) its outstanding total, and the
    customer defaults to the order's. Raises ``PaymentDeclined`` (402, the payment stays
    retryable), ``ProcessorUnavailable`` (503) after the payment itself was committed.
    """
    method = payment_method_parse(payment_method)
    if confirm and method is None:
        raise InvalidInput("confirm needs a payment_method.", code="parameter_missing", param="payment_method")
    if capture_method not in CaptureMethod.values:
        raise InvalidInput(
            "capture_method must be automatic or manual.", code="parameter_invalid", param="capture_method"
        )
    if amount is not None:
        amount = _input_checked(amount_validate, amount, minimum=1)
    if currency is not None:
        currency = _input_checked(currency_validate, currency)
    if return_url:
        _return_url_validate(return_url)
    if not order_id:
        if amount is None:
            raise InvalidInput("amount is required.", code="parameter_missing", param="amount")
        if currency is None:
            raise InvalidInput("currency is required.", code="parameter_missing", param="currency")
        if save_payment_method and not customer_id:
            raise InvalidInput("save_payment_method needs a customer.", code="parameter_missing", param="customer")
    if customer_id:
        _customer_checked(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)

    with transaction.atomic():
        order = None
        if order_id:
            order = _order_locked(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
            if customer_id and customer_id != order.customer_id:
                raise InvalidRequest(
                    "customer must be the order's customer.", code="parameter_invalid", param="customer"
                )
            customer_id = order.customer_id
            currency = currency or order.currency
            amount = order_outstanding(order=order) if amount is None else amount
        if amount is None:
            raise InvalidRequest("amount is required.", code="parameter_missing", param="amount")
        if currency is None:
            raise InvalidRequest("currency is required.", code="parameter_missing", param="currency")
        payment = Payment(
            merchant_id=merchant_id,
            livemode=livemode,
            amount=amount,
            currency=currency,
            capture_method=capture_method,
            order_id=order.id if order is not None else None,
            customer_id=customer_id or None,
            description=description,
            metadata=metadata or {},
            return_url=return_url,
            save_payment_method=save_payment_method,
        )
        if order is not None:
            _order_check(order=order, payment=payment)
        if method is not None and not confirm:
            _method_use(payment, method, vault_card=True)
            payment_transition(payment, "attach_method")
        created_status = payment.status
        attempt = card = route = None
        if confirm:
            attempt, card, route = _confirm_begin(payment=payment, method=method)
        payment.save(force_insert=True)
        created = payment_data(payment) | {"status": created_status, "last_payment_error": None, "next_action": None}
        event_record(merchant_id=merchant_id, type="payment.created", data=created, livemode=livemode)
        if attempt is not None:
            attempt.save(force_insert=True)
            _record(payment, "payment.processing")
    if attempt is None:
        return payment
    return _authorize(payment=payment, attempt=attempt, route=route, card=card)


def payment_confirm(
    *,
    merchant_id: str,
    payment_id: str,
    payment_method: object = None,
    save_payment_method: bool | None = None,
    return_url: str | None = None,
    livemode: bool = False,
) -> Payment:
    """requires_payment_method | requires_confirmation -> processing -> the processor's answer."""
    method = payment_method_parse(payment_method)
    if return_url:
        _return_url_validate(return_url)
    order_id = _order_id_of(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode)
    with transaction.atomic():
        order = _order_locked(merchant_id=merchant_id, order_id=order_id, livemode=livemode) if order_id else None
        payment = _payment_for_update(payment_id=payment_id, merchant_id=merchant_id, livemode=livemode)
        if not transition_allowed(payment.status, "confirm"):
            raise payment_unexpected_state(payment, "confirm")
        if order is not None:
            _order_check(order=order, payment=payment)
        if return_url:
            payment.return_url = return_url
        if save_payment_method is not None:
            payment.save_payment_method = save_payment_method
        attempt, card, route = _confirm_begin(payment=payment, method=method)
        payment.save()
        attempt.save(force_insert=True)
        _record(payment, "payment.processing")
    return _authorize(payment=payment, attempt=attempt, route=route, card=card)


def _sync_unresolved_first(payment: Payment) -> Payment:
    """A follow-up on a payment whose last operation is unknown or pending asks the processor first."""
    if (
        payment.status == PaymentStatus.PROCESSING
        and PaymentAttempt.objects.filter(
            payment_id=payment.id, status__in=(AttemptStatus.UNKNOWN, AttemptStatus.PENDING)
        ).exists()
    ):
        return payment_sync(payment_id=payment.id, scheduled=False)
    return payment


def _follow_up(*, payment: Payment, attempt: PaymentAttempt, call: Callable[[Connector], ProcessorResult]) -> Payment:
    connector = _connector(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
    result = _call(attempt.id, connector, call)
    settlement = _settle(payment=payment, attempt=attempt, result=result, source="call")
    _raise_for(settlement)
    return settlement.payment


def payment_capture(
    *, merchant_id: str, payment_id: str, amount_to_capture: int | None = None, livemode: bool = False
) -> Payment:
    """requires_capture -> processing -> succeeded. Captures at most ``amount_capturable``; the rest is released."""
    if amount_to_capture is not None:
        amount_to_capture = _input_checked(amount_validate, amount_to_capture, param="amount_to_capture", minimum=1)
    payment = _sync_unresolved_first(_payment_read(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode))
    with transaction.atomic():
        order = (
            _order_locked(merchant_id=merchant_id, order_id=payment.order_id, livemode=livemode)
            if payment.order_id
            else None
        )
        payment = _payment_for_update(payment_id=payment_id, merchant_id=merchant_id, livemode=livemode)
        if not transition_allowed(payment.status, "capture"):
            raise payment_unexpected_state(payment, "capture")
        amount = payment.amount_capturable if amount_to_capture is None else amount_to_capture
        if amount > payment.amount_capturable:
            raise InvalidRequest(
                f"amount_to_capture ({amount}) exceeds amount_capturable ({payment.amount_capturable}).",
                code="amount_too_large",
                param="amount_to_capture",
            )
        if order is not None and amount > order_outstanding(order=order):
            # Refused before any money moves (e.g. the order was canceled while authorized).
            raise Conflict(
                f"Order {order.id} can no longer take {amount} (status '{order.status}'); cancel this payment instead.",
                code="order_not_payable",
                param="order",
            )
        attempt = _follow_up_begin(payment, operation=Op.CAPTURE, action="capture", amount=amount)
    return _follow_up(
        payment=payment,
        attempt=attempt,
        call=lambda c: c.capture(
            reference=attempt.id,
            processor_reference=payment.processor_reference,
            amount=amount,
            currency=payment.currency,
        ),
    )


def payment_cancel(
    *, merchant_id: str, payment_id: str, cancellation_reason: str = "", livemode: bool = False
) -> Payment:
    """Before any processor holds money: canceled at once. With an authorization or a redirect
    in progress: the processor voids it first (processing -> canceled)."""
    if cancellation_reason and cancellation_reason not in CANCELLATION_REASONS:
        raise InvalidInput(
            f"cancellation_reason must be one of: {', '.join(CANCELLATION_REASONS)}.",
            code="parameter_invalid",
            param="cancellation_reason",
        )
    _sync_unresolved_first(_payment_read(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode))
    with transaction.atomic():
        payment = _payment_for_update(payment_id=payment_id, merchant_id=merchant_id, livemode=livemode)
        payment.cancellation_reason = cancellation_reason
        if transition_allowed(payment.status, "cancel"):
            event_type = _move(payment, "cancel")
            payment.canceled_at = _now()
            payment.next_action = None
            payment.save()
            _method_after_use(payment)
            _record(payment, event_type)
            return payment
        if not transition_allowed(payment.status, "void"):
            raise payment_unexpected_state(payment, "cancel")
        attempt = _follow_up_begin(payment, operation=Op.VOID, action="void", amount=payment.amount_capturable)
    return _follow_up(
        payment=payment,
        attempt=attempt,
        call=lambda c: c.void(reference=attempt.id, processor_reference=payment.processor_reference),
    )


def payment_complete(*, payment_id: str) -> Payment:
    """The customer's browser is back from 3-D Secure / PayPal: ask the processor to finish.

    Never trusts anything the browser brings; the processor's answer decides. Declines are not
    raised (the browser gets a page), they leave the payment retryable as usual.
    """
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.PROCESSING:
        return _sync_unresolved_first(payment)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    with transaction.atomic():
        payment = _payment_for_update(payment_id=payment_id)
        if not transition_allowed(payment.status, "complete"):
            return payment  # a concurrent return is completing it
        attempt = _follow_up_begin(payment, operation=Op.COMPLETE, action="complete", amount=payment.amount)
    connector = _connector(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
    result = _complete_call(payment=payment, attempt=attempt, connector=connector)
    return _settle(payment=payment, attempt=attempt, result=result, source="call").payment


def _complete_call(*, payment: Payment, attempt: PaymentAttempt, connector: Connector | None) -> ProcessorResult:
    capture = payment.capture_method == CaptureMethod.AUTOMATIC
    reference = attempt.processor_reference or payment.processor_reference
    return _call(
        attempt.id,
        connector,
        lambda c: c.complete(reference=attempt.id, processor_reference=reference, capture=capture),
    )


# --- status sync and processor webhooks -----------------------------------------------------------


# A status read answering FAILED with one of these means "the processor has no such operation".
NOT_FOUND_CODES = frozenset({"not_found", "resource_missing"})


def _status_read(
    connector: Connector | None,
    *,
    reference: str,
    has_processor_reference: bool,
    created,
    read: Callable[[Connector], ProcessorResult],
    scheduled: bool,
) -> ProcessorResult:
    """A status query, made conservative: only a definite "not found", for an operation the
    processor never acknowledged and old enough for the processor's search to show it, proves
    that nothing happened. A not-found from a lagging search index (``extra["lookup"] ==
    "search"``, Stripe) is trusted only from the janitor's scheduled syncs, never from on-demand
    ones (webhook trigger, follow-up operation, browser return), which can come much sooner.
    Any other failure of the read itself is inconclusive (ask again later)."""
    if connector is None:
        return ProcessorResult(outcome=Outcome.UNKNOWN, error_code="processor_account_missing")
    result = _call(reference, connector, read)
    if result.outcome != Outcome.FAILED:
        return result
    old_enough = created <= _now() - timedelta(seconds=settings.PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS)
    searched = result.extra.get("lookup") == "search"
    if (
        result.error_code in NOT_FOUND_CODES
        and not has_processor_reference
        and old_enough
        and (scheduled or not searched)
    ):
        return result
    return replace(result, outcome=Outcome.UNKNOWN)


def _sync_try_record(model, row, *, unresolved: Q) -> None:
    """Count a status query in its own transaction, before its answer is applied: if applying
    raises every time, the count still grows, the schedule backs off and the operator flag comes."""
    tries = row.sync_attempts + 1
    pending = getattr(row, "status", None) == AttemptStatus.PENDING or (
        getattr(row, "processor_state", None) == ProcessorState.PENDING
    )
    next_sync_at, flagged_at = _schedule(PENDING if pending else UNKNOWN, tries)
    fields: dict[str, Any] = {"sync_attempts": tries, "next_sync_at": next_sync_at, "updated": _now()}
    if flagged_at is not None:
        fields["flagged_at"] = flagged_at
    with transaction.atomic():
        model.objects.filter(unresolved, pk=row.pk).update(**fields)
    row.sync_attempts = tries


def payment_sync(*, payment_id: str, scheduled: bool = True) -> Payment:
    """Ask the processor about every unresolved operation of the payment and apply the answers.

    Attempts still in flight (``started`` before their deadline) are left to their own process.
    An inconclusive answer reschedules (``PAYMENTS_SYNC_SCHEDULE_SECONDS``); after the last try
    the attempt or refund is flagged for an operator. ``scheduled`` False: an on-demand sync (a
    follow-up operation, the browser's return, an operator), which does not trust a search's
    "not found".
    """
    return _payment_sync(payment_id=payment_id, source="sync", scheduled=scheduled)


def _payment_sync(*, payment_id: str, source: str, scheduled: bool) -> Payment:
    """``source`` "sync": a status query that counts against the schedule; "webhook": a query a
    processor notification triggered (does not use up the schedule). Each query is counted
    before anything else is tried, so one that fails every time (even building the connector)
    still backs off and reaches the operator flag."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    now = _now()
    attempts = PaymentAttempt.objects.filter(payment_id=payment_id, status__in=UNRESOLVED_ATTEMPT_STATUSES)
    for attempt in attempts.order_by("id"):
        if attempt.status == AttemptStatus.STARTED and attempt.next_sync_at and attempt.next_sync_at > now:
            continue
        if source == "sync":
            _sync_try_record(PaymentAttempt, attempt, unresolved=Q(status__in=UNRESOLVED_ATTEMPT_STATUSES))
        connector = _connector(merchant_id=payment.merchant_id, account_id=attempt.processor_account_id)
        result = _status_read(
            connector,
            reference=attempt.id,
            has_processor_reference=bool(attempt.processor_reference),
            created=attempt.created,
            read=lambda c, a=attempt: c.status(reference=a.id, processor_reference=a.processor_reference or None),
            scheduled=scheduled,
        )
        if attempt.operation == Op.COMPLETE and result.outcome == Outcome.PENDING and result.extra.get("approved"):
            # The customer approved but our complete() never got through (PayPal APPROVED order):
            # finish it exactly as the poll does, with the same reference (the processor replays it).
            result = _complete_call(payment=payment, attempt=attempt, connector=connector)
        payment = _settle(payment=payment, attempt=attempt, result=result, source=source).payment
    refunds = Refund.objects.filter(payment_id=payment_id, status=RefundStatus.PENDING)
    for refund in refunds.order_by("id"):
        if refund.processor_state == ProcessorState.STARTED and refund.next_sync_at and refund.next_sync_at > now:
            continue
        if source == "sync":
            _sync_try_record(Refund, refund, unresolved=Q(status=RefundStatus.PENDING))
        connector = _connector(merchant_id=payment.merchant_id, account_id=refund.processor_account_id)
        result = _status_read(
            connector,
            reference=refund.id,
            has_processor_reference=bool(refund.processor_reference),
            created=refund.created,
            read=lambda c, r=refund: c.refund_status(
                reference=r.id,
                processor_refund_reference=r.processor_reference or None,
                processor_reference=payment.processor_reference or None,
            ),
            scheduled=scheduled,
        )
        _refund_settle(refund=refund, payment=payment, result=result, source=source)
    return Payment.objects.get(pk=payment_id)


def _payment_id_by_reference(
    model: type[Refund] | type[PaymentAttempt],
    *,
    account_id: str,
    processor_reference: str | None,
    our_reference: str | None,
) -> str | None:
    """The payment a refund or attempt of this account belongs to, found by the processor's id or, for
    an operation whose reply was lost (no processor id yet), by ours (sent as the processor's
    idempotency key / metadata)."""
    if not processor_reference and not our_reference:
        return None
    match = Q(pk__in=[r for r in (processor_reference, our_reference) if r])
    if processor_reference:
        match |= Q(processor_reference=processor_reference)
    return (
        model.objects.filter(processor_account_id=account_id).filter(match).values_list("payment_id", flat=True).first()
    )


def payment_apply_webhook(*, processor_account_id: str, event: WebhookEvent) -> None:
    """A verified processor notification is a trigger, never a verdict: events arrive late, out of
    order and about older charges of the same payment, so the result they carry is not applied.
    The payment the event's charge or refund belongs to is resolved by asking the processor
    (``payment_resolve``), after the caller's transaction commits (no row lock is held across
    that HTTP call, and a rolled-back receipt enqueues nothing)."""
    payment_id = _payment_id_by_reference(
        Refund,
        account_id=processor_account_id,
        processor_reference=event.refund_reference,
        our_reference=event.gateway_refund_reference,
    ) or _payment_id_by_reference(
        PaymentAttempt,
        account_id=processor_account_id,
        processor_reference=event.processor_reference,
        our_reference=event.gateway_reference,
    )
    if payment_id is None:
        logger.info("processor webhook for an unknown charge ignored", extra={"event_id": event.processor_event_id})
        return
    from .tasks import payment_resolve  # the tasks module imports this one

    transaction.on_commit(lambda: payment_resolve.delay(payment_id), robust=True)


def payment_resolve(*, payment_id: str) -> Payment:
    """Bring a payment up to date with its processor without ever charging again: unresolved
    operations and refunds are queried (``payment_sync``, skipping calls still in flight); a
    payment waiting for the customer is finished with ``complete()`` once the processor reports
    that the customer acted (3-D Secure done or failed, PayPal approved)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return _requires_action_poll(payment)
    return _payment_sync(payment_id=payment_id, source="webhook", scheduled=False)


def payment_requires_action_poll(*, payment_id: str) -> Payment:
    """The janitor's poll of a payment left in requires_action (the browser may never return)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id)
    if payment.status == PaymentStatus.PROCESSING:
        # A complete() may be in flight; if it turns out not processed the payment is back in
        # requires_action and must still have its poll.
        return payment
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        PaymentAttempt.objects.filter(payment_id=payment_id, status=AttemptStatus.REQUIRES_ACTION).update(
            next_sync_at=None
        )
        return payment
    return _requires_action_poll(payment)


def _requires_action_poll(payment: Payment) -> Payment:
    waiting = list(
        PaymentAttempt.objects.filter(payment_id=payment.id, status=AttemptStatus.REQUIRES_ACTION).order_by("-id")
    )
    if not waiting:
        return payment
    latest, older = waiting[0], waiting[1:]
    if older:
        PaymentAttempt.objects.filter(pk__in=[a.id for a in older]).update(next_sync_at=None)
    # Count the poll and schedule the next one before anything can fail (building the connector,
    # the read, complete()): the payment is never left waiting without a poll. A poll that finds
    # the customer still away (or cannot read) simply keeps this schedule; complete() clears it
    # by moving the payment on, or re-arms it if it did not get through.
    tries = latest.sync_attempts + 1
    # After the last poll the payment is abandoned; nothing was charged while it waits.
    next_sync_at = None if tries >= settings.PAYMENTS_REQUIRES_ACTION_POLL_MAX else _requires_action_poll_next(tries)
    PaymentAttempt.objects.filter(pk=latest.id, status=AttemptStatus.REQUIRES_ACTION).update(
        sync_attempts=tries, next_sync_at=next_sync_at, updated=_now()
    )
    connector = _connector(merchant_id=payment.merchant_id, account_id=payment.processor_account_id)
    reference = payment.processor_reference or latest.processor_reference or None
    result = _call(latest.id, connector, lambda c: c.status(reference=latest.id, processor_reference=reference))
    if result.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED, Outcome.PENDING):
        return payment_complete(payment_id=payment.id)
    return Payment.objects.get(pk=payment.id)


# --- refunds --------------------------------------------------------------------------------------


def refund_create(
    *,
    merchant_id: str,
    payment_id: str,
    amount: int | None = None,
    reason: str = "",
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> Refund:
    """Refund part or all (default: the rest) of a captured payment.

    The amount is reserved under the payment's row lock before the processor is called, so
    concurrent refunds can never together exceed ``amount_received``. Returns the refund
    (``succeeded``, ``failed`` when the processor refused, or ``pending``); 503 if no processor
    took the call (the refund is then ``failed`` and nothing moved).
    """
    if amount is not None:
        amount = _input_checked(amount_validate, amount, minimum=1)
    if reason and reason not in RefundReason.values:
        raise InvalidInput(
            f"reason must be one of: {', '.join(RefundReason.values)}.", code="parameter_invalid", param="reason"
        )
    payment = _sync_unresolved_first(
        _payment_read(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode, param="payment")
    )
    with transaction.atomic():
        payment = _payment_for_update(payment_id=payment.id)
        if payment.status != PaymentStatus.SUCCEEDED or payment.amount_received <= 0:
            raise Conflict(
                f"This payment's status is '{payment.status}'; only a captured payment can be refunded.",
                code="payment_unexpected_state",
                param="payment",
            )
        reserved = (
            Refund.objects.filter(
                payment_id=payment.id, status__in=(RefundStatus.PENDING, RefundStatus.SUCCEEDED)
            ).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        available = payment.amount_received - reserved
        if available <= 0:
            raise Conflict(
                "This payment has been refunded in full (or the rest is being refunded).",
                code="charge_already_refunded",
                param="payment",
            )
        amount = available if amount is None else amount
        if amount > available:
            raise InvalidRequest(
                f"amount ({amount}) exceeds what is left to refund ({available}).",
                code="amount_too_large",
                param="amount",
            )
        refund = Refund.objects.create(
            merchant_id=payment.merchant_id,
            payment=payment,
            livemode=payment.livemode,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            metadata=metadata or {},
            processor=payment.processor,
            processor_account_id=payment.processor_account_id,
            processor_state=ProcessorState.STARTED,
            next_sync_at=_inflight_deadline(),
        )
        event_record(
            merchant_id=refund.merchant_id, type="refund.created", data=refund_data(refund), livemode=refund.livemode
        )
    connector = _connector(merchant_id=payment.merchant_id, account_id=refund.processor_account_id)
    result = _call(
        refund.id,
        connector,
        lambda c: c.refund(
            reference=refund.id,
            processor_reference=payment.processor_reference,
            amount=refund.amount,
            currency=refund.currency,
        ),
    )
    refund, state = _refund_settle(refund=refund, payment=payment, result=result, source="call")
    if state == NOT_PROCESSED:
        raise ProcessorUnavailable(
            "The processor could not take the refund; nothing was refunded. Retry later.",
            extra={"refund": refund_data(refund)},
        )
    return refund


_REFUND_STATE = {
    Outcome.SUCCEEDED: "succeeded",
    Outcome.DECLINED: "failed",
    Outcome.FAILED: NOT_PROCESSED,
    Outcome.UNKNOWN: UNKNOWN,
    Outcome.PENDING: PENDING,
    Outcome.REQUIRES_ACTION: UNKNOWN,  # not an answer a refund can have: ask again
}


def _refund_settle(
    *, refund: Refund, payment: Payment, result: ProcessorResult, source: str
) -> tuple[Refund, str | None]:
    state = _REFUND_STATE[result.outcome]
    now = _now()
    fields: dict[str, Any] = {"updated": now}
    if source == "call":
        fields["latency_ms"] = result.latency_ms
    if result.processor_reference:
        fields["processor_reference"] = result.processor_reference
    if state in (UNKNOWN, PENDING):
        tries = 0 if source == "call" else refund.sync_attempts  # "sync" counted by _sync_try_record
        fields["processor_state"] = ProcessorState.UNKNOWN if state == UNKNOWN else ProcessorState.PENDING
        fields["sync_attempts"] = tries
        fields["next_sync_at"], fields["flagged_at"] = _schedule(state, tries)
    else:
        fields["processor_state"] = ProcessorState.RESOLVED
        fields["next_sync_at"] = None
        if source != "call":
            fields["flagged_at"] = (
                None  # resolved now (sync or webhook); a flag from an exhausted schedule no longer applies
            )
        if state == "succeeded":
            fields["status"] = RefundStatus.SUCCEEDED
        else:
            fields["status"] = RefundStatus.FAILED
            fields["failure_reason"] = (
                "processor_unavailable" if state == NOT_PROCESSED else result.error_code or "declined"
            )[:64]
            fields["failure_message"] = (result.message or "")[:500]

    with transaction.atomic():
        order = (
            order_lock(merchant_id=payment.merchant_id, order_id=payment.order_id, livemode=payment.livemode)
            if payment.order_id
            else None
        )
        payment = _payment_for_update(payment_id=payment.id)
        if not Refund.objects.filter(pk=refund.id, status=RefundStatus.PENDING).update(**fields):
            current = Refund.objects.get(pk=refund.id)
            if current.status == RefundStatus.SUCCEEDED and state in ("failed", NOT_PROCESSED):
                Refund.objects.filter(pk=refund.id).update(flagged_at=now, updated=now)
                logger.error("processor reports a succeeded refund as failed; flagged", extra={"refund_id": refund.id})
            return current, None
        for name, value in fields.items():
            setattr(refund, name, value)
        if state == "succeeded":
            payment.amount_refunded += refund.amount
            payment.save(update_fields=["amount_refunded", "updated"])
            ledger_post_refund(
                merchant_id=payment.merchant_id,
                payment_id=payment.id,
                refund_id=refund.id,
                amount=refund.amount,
                currency=refund.currency,
            )
            if order is not None:
                _order_refunded(order=order, payment=payment, amount=refund.amount)
            event_record(
                merchant_id=refund.merchant_id,
                type="refund.succeeded",
                data=refund_data(refund),
                livemode=refund.livemode,
            )
            _record(payment, "payment.updated")
        elif state in ("failed", NOT_PROCESSED):
            event_record(
                merchant_id=refund.merchant_id, type="refund.failed", data=refund_data(refund), livemode=refund.livemode
            )
        return refund, state


def _order_refunded(*, order, payment: Payment, amount: int) -> None:
    try:
        with transaction.atomic():
            order_record_refund(order=order, amount=amount)
    except ApiError:
        # The money went back to the customer either way; the order's books need an operator.
        payment.review_reason = "order_refund_not_recorded"
        payment.save(update_fields=["review_reason", "updated"])
        logger.error(
            "refund could not be recorded on its order", extra={"payment_id": payment.id, "order_id": order.id}
        )


# --- payment methods ------------------------------------------------------------------------------


def payment_method_detach(
    *, merchant_id: str, customer_id: str, payment_method_id: str, livemode: bool = False
) -> PaymentMethod:
    """The customer removes a saved method: it can no longer pay, and its ciphertext is erased."""
    with transaction.atomic():
        method = (
            PaymentMethod.objects.select_for_update()
            .filter(
                merchant_id=merchant_id,
                livemode=livemode,
                customer_id=customer_id,
                pk=payment_method_id,
                detached_at__isnull=True,
            )
            .first()
        )
        if method is None:
            raise not_found("payment_method", payment_method_id)
        method.detached_at = _now()
        method.vault_token = ""
        method.save(update_fields=["detached_at", "vault_token", "updated"])
        return method


def payment_methods_reencrypt(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored card under the newest vault key (key rotation). Returns how many changed."""
    from gateway.crypto import needs_reencrypt

    changed = 0
    last_id = ""
    while True:
        batch = list(
            PaymentMethod.objects.filter(pk__gt=last_id)
            .exclude(vault_token="")
            .order_by("pk")
            .values_list("pk", "vault_token")[:batch_size]
        )
        if not batch:
            return changed
        for method_id, token in batch:
            last_id = method_id
            if not needs_reencrypt(token):
                continue
            # Only replace the ciphertext we read: a concurrent detach (which erases it) wins.
            changed += PaymentMethod.objects.filter(pk=method_id, vault_token=token).update(
                vault_token=vault.card_reencrypt(token), updated=_now()
            )


# --- books ----------------------------------------------------------------------------------------


def ledger_check(*, merchant_id: str | None = None) -> list[str]:
    """Verify the money invariants between payments and the ledger; returns the violations (empty = OK).

    * every journal entry balances (and the other ledger-side rules of ``ledger_problems``);
    * per payment: captured and refunded in the ledger equal ``amount_received`` and
      ``amount_refunded`` (so captured - refunded equals the ledger's net), the succeeded refunds
      add up to ``amount_refunded``, and refunded <= captured <= authorized <= amount;
    * no ledger posting refers to a payment that does not exist.
    """
    violations = [f"ledger: {p.kind} {p.subject}: {p.detail}" for p in ledger_problems(merchant_id=merchant_id)]
    totals = payment_ledger_totals(merchant_id=merchant_id)
    payments = Payment.objects.all() if merchant_id is None else Payment.objects.filter(merchant_id=merchant_id)
    refunds = Refund.objects.filter(status=RefundStatus.SUCCEEDED)
    if merchant_id is not None:
        refunds = refunds.filter(merchant_id=merchant_id)
    refunded_by_payment = dict(
        refunds.values("payment_id").annotate(total=Sum("amount")).values_list("payment_id", "total")
    )
    rows = payments.values_list(
        "id", "currency", "amount", "amount_authorized", "amount_received", "amount_refunded", "amount_capturable"
    )
    for pid, currency, amount, authorized, received, refunded, capturable in rows.iterator(chunk_size=2000):
        booked = totals.pop(pid, None)
        captured_l, refunded_l = (booked.captured, booked.refunded) if booked else (0, 0)
        if booked and booked.currency != currency:
            violations.append(f"{pid}: booked in {booked.currency}, payment is in {currency}")
        if captured_l != received:
            violations.append(f"{pid}: ledger captured {captured_l} != amount_received {received}")
        if refunded_l != refunded:
            violations.append(f"{pid}: ledger refunded {refunded_l} != amount_refunded {refunded}")
        if received - refunded != captured_l - refunded_l:
            violations.append(
                f"{pid}: captured - refunded {received - refunded} != ledger net {captured_l - refunded_l}"
            )
        if refunded_by_payment.get(pid, 0) != refunded:
            violations.append(
                f"{pid}: succeeded refunds {refunded_by_payment.get(pid, 0)} != amount_refunded {refunded}"
            )
        if not 0 <= refunded <= received <= authorized <= amount:
            violations.append(f"{pid}: not 0 <= refunded {refunded} <= captured {received} <= authorized {authorized}")
        if capturable < 0 or capturable + received > authorized:
            violations.append(f"{pid}: capturable {capturable} + captured {received} > authorized {authorized}")
    for pid in sorted(totals):
        violations.append(f"{pid}: ledger postings for a payment that does not exist")
    return violations
