"""The sandbox processor's own book (``SandboxCharge``/``SandboxRefund``) and the operations on it,
as an outside processor keeps them:

* Our ``reference`` is its idempotency key: the same reference never charges (or refunds,
  captures) twice; a repeat returns the recorded result; a repeat with other parameters is
  refused with ``idempotency_error``.
* Test cards (``sandbox.cards``) choose the outcome; any other card succeeds. PayPal and the
  3-D Secure card return ``REQUIRES_ACTION`` with a page served at ``/sandbox/...``; the
  customer's choice there is recorded, and ``charge_complete`` finishes the charge.

Charge states (the sandbox's own): requires_action -> requires_capture | succeeded | declined |
canceled; requires_capture -> succeeded (capture, partial allowed) | canceled (void);
succeeded -> refunds up to amount_captured.
"""

from dataclasses import replace
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from gateway.ids import new_id
from gateway.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from gateway.statements import rows_insert
from processors.base import AuthorizeRequest, CardDetails, Outcome, ProcessorResult

from .cards import EXPIRED_CARD, RETRYABLE_ERROR_CODES, TEST_CARDS, card_brand_guess, card_scenario, decline_message
from .disputes import dispute_open_if_due
from .models import SandboxCharge, SandboxRefund

Status = SandboxCharge.Status
Action = SandboxCharge.Action


def _declined(code: str, message: str, *, decline_code: str | None = None, **extra) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.DECLINED, decline_code=decline_code, error_code=code, message=message, extra=extra
    )


def _absolute(path: str) -> str:
    return f"{settings.SANDBOX_BASE_URL.rstrip('/')}{path}"


def action_url(charge: SandboxCharge) -> str:
    name = "sandbox:paypal" if charge.payment_method_type == "paypal" else "sandbox:three_d_secure"
    return _absolute(reverse(name, args=[charge.id]))


def charge_result(charge: SandboxCharge) -> ProcessorResult:
    """The outcome a processor reports for a charge in its current state (authorize replay, status)."""
    common = {
        "processor_reference": charge.id,
        "amount_authorized": charge.amount_authorized,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "raw_status": charge.status,
    }
    extra = {
        "action": charge.action,
        "amount_released": charge.amount_authorized - charge.amount_captured if charge.amount_captured else 0,
        "brand": charge.brand,
        "last4": charge.last4,
    }
    if charge.status == Status.REQUIRES_ACTION:
        return ProcessorResult(outcome=Outcome.REQUIRES_ACTION, redirect_url=action_url(charge), extra=extra, **common)
    if charge.status == Status.DECLINED:
        if charge.error_code in RETRYABLE_ERROR_CODES:
            extra["retryable"] = True
        return ProcessorResult(
            outcome=Outcome.DECLINED,
            decline_code=charge.decline_code or None,
            error_code=charge.error_code or "card_declined",
            message=decline_message(error_code=charge.error_code, decline_code=charge.decline_code),
            extra=extra,
            **common,
        )
    # requires_capture, succeeded, canceled: the operation asked for happened; raw_status tells which.
    return ProcessorResult(outcome=Outcome.SUCCEEDED, extra=extra, **common)


def refund_result(refund: SandboxRefund) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.SUCCEEDED,
        processor_reference=refund.id,
        amount_refunded=refund.amount,
        raw_status=refund.status,
        extra={"charge": refund.charge_id, "charge_amount_refunded": refund.charge.amount_refunded},
    )


def _charge(merchant_id: str, processor_reference: str | None, *, for_update: bool = False) -> SandboxCharge | None:
    if not processor_reference:
        return None
    queryset = SandboxCharge.objects.filter(merchant_id=merchant_id, id=processor_reference)
    if for_update:
        queryset = queryset.select_for_update()
    return queryset.first()


# --- charges --------------------------------------------------------------------------------------


def charge_authorize(*, merchant_id: str, request: AuthorizeRequest) -> ProcessorResult:
    invalid = _authorize_invalid(request)
    if invalid is not None:
        existing = SandboxCharge.objects.filter(merchant_id=merchant_id, reference=request.reference).first()
        return _replay(existing, request) if existing is not None else invalid
    fields: dict = {
        "merchant_id": merchant_id,
        "reference": request.reference,
        "payment_method_type": request.payment_method_type,
        "amount": request.amount,
        "currency": request.currency,
        "capture_requested": request.capture,
        "return_url": request.return_url or "",
    }
    if request.payment_method_type == "paypal":
        fields.update(id=new_id("sbpo"), status=Status.REQUIRES_ACTION, action=Action.PENDING)
    else:
        fields.update(id=new_id("sbch"), **_card_outcome(request.card, request))
    # Insert first (the common case is a new reference); the unique (merchant, reference)
    # constraint turns a repeat or a concurrent duplicate into a replay of the recorded charge.
    # Outside a transaction (a processor call always is) the INSERT is its own transaction: one
    # round trip, no BEGIN/COMMIT; inside one, a savepoint keeps the caller's transaction usable.
    # A disputed-card charge opens its dispute in the same transaction as the charge.
    try:
        if transaction.get_connection().in_atomic_block or fields.get("disputes_after_capture"):
            with transaction.atomic():
                charge = _charge_insert(fields)
                dispute_open_if_due(charge)
        else:
            charge = _charge_insert(fields)
    except IntegrityError:
        charge = SandboxCharge.objects.get(merchant_id=merchant_id, reference=request.reference)
        return _replay(charge, request)
    return charge_result(charge)


def _charge_insert(fields: dict) -> SandboxCharge:
    charge = SandboxCharge(**fields)
    rows_insert([charge])  # its SQL built once: one charge per card payment
    return charge


def _authorize_invalid(request: AuthorizeRequest) -> ProcessorResult | None:
    amount = request.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        return _declined("invalid_amount", "Amount must be a positive integer in minor units.")
    if request.currency not in CURRENCY_EXPONENTS:
        return _declined("invalid_currency", "Unsupported currency.")
    if request.payment_method_type not in ("card", "paypal"):
        return _declined("payment_method_unsupported", "The sandbox accepts card and paypal.")
    if request.payment_method_type == "card" and request.card is None:
        raise ValueError("a card payment needs AuthorizeRequest.card")
    return None


def _card_outcome(card: CardDetails, request: AuthorizeRequest) -> dict:
    fields = {"brand": card_brand_guess(card.number), "last4": card.number[-4:]}
    scenario = card_scenario(card.number)
    now = datetime.now(UTC)
    if scenario.kind == "success" and (card.exp_year, card.exp_month) < (now.year, now.month):
        scenario = TEST_CARDS[EXPIRED_CARD]
    if scenario.kind == "decline":
        return fields | {
            "status": Status.DECLINED,
            "decline_code": scenario.decline_code or "",
            "error_code": scenario.error_code or "",
        }
    if scenario.kind == "three_ds":
        return fields | {"status": Status.REQUIRES_ACTION, "action": Action.PENDING}
    if scenario.kind == "disputed":
        fields["disputes_after_capture"] = True
    return fields | _authorized_fields(amount=request.amount, capture=request.capture)


def _authorized_fields(*, amount: int, capture: bool) -> dict:
    return {
        "status": Status.SUCCEEDED if capture else Status.REQUIRES_CAPTURE,
        "amount_authorized": amount,
        "amount_captured": amount if capture else 0,
        "captured_at": timezone.now() if capture else None,
    }


def _replay(charge: SandboxCharge, request: AuthorizeRequest) -> ProcessorResult:
    same = (
        charge.amount == request.amount
        and charge.currency == request.currency
        and charge.payment_method_type == request.payment_method_type
        and (request.card is None or charge.last4 == request.card.number[-4:])
    )
    if not same:
        return _declined(
            "idempotency_error",
            "This reference was already used with different parameters.",
            processor_reference=charge.id,
        )
    return charge_result(charge)


@transaction.atomic
def charge_complete(*, merchant_id: str, processor_reference: str, capture: bool) -> ProcessorResult:
    charge = _charge(merchant_id, processor_reference, for_update=True)
    if charge is None:
        return _declined("resource_missing", "No such sandbox charge.")
    if charge.status == Status.REQUIRES_ACTION and charge.action == Action.APPROVED:
        for key, value in _authorized_fields(amount=charge.amount, capture=capture).items():
            setattr(charge, key, value)
        charge.capture_requested = capture
        charge.save()
    if charge.status == Status.CANCELED:
        return _declined("charge_canceled", "The charge was canceled before it was completed.")
    # Pending: still REQUIRES_ACTION; already finished: the recorded result (idempotent).
    return charge_result(charge)


@transaction.atomic
def charge_capture(
    *, merchant_id: str, reference: str, processor_reference: str, amount: int, currency: str
) -> ProcessorResult:
    charge = _charge(merchant_id, processor_reference, for_update=True)
    if charge is None:
        return _declined("resource_missing", "No such sandbox charge.")
    if charge.capture_reference and charge.capture_reference == reference:
        if charge.amount_captured != amount:
            return _declined("idempotency_error", "This capture reference was used with another amount.")
        return charge_result(charge)
    if charge.status != Status.REQUIRES_CAPTURE:
        code = "charge_already_captured" if charge.status == Status.SUCCEEDED else "charge_not_capturable"
        return _declined(code, f"The charge cannot be captured in state {charge.status}.")
    if currency != charge.currency:
        return _declined("currency_mismatch", "Capture currency differs from the authorization.")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return _declined("invalid_amount", "Capture amount must be a positive integer.")
    if amount > charge.amount_authorized:
        return _declined("amount_too_large", "Capture amount exceeds the authorized amount.")
    charge.amount_captured = amount
    charge.captured_at = timezone.now()
    charge.status = Status.SUCCEEDED
    charge.capture_reference = reference
    charge.save()
    dispute_open_if_due(charge)
    return charge_result(charge)


@transaction.atomic
def charge_void(*, merchant_id: str, reference: str, processor_reference: str) -> ProcessorResult:
    charge = _charge(merchant_id, processor_reference, for_update=True)
    if charge is None:
        return _declined("resource_missing", "No such sandbox charge.")
    if charge.status in (Status.REQUIRES_CAPTURE, Status.REQUIRES_ACTION):
        charge.status = Status.CANCELED
        charge.void_reference = reference
        charge.save()
        return charge_result(charge)
    if charge.status == Status.SUCCEEDED:
        return _declined("charge_already_captured", "A captured charge cannot be voided; refund it.")
    # canceled (repeat) or declined (nothing is held): the goal of a void is already met.
    return replace(charge_result(charge), outcome=Outcome.SUCCEEDED, decline_code=None, error_code=None)


def charge_status(*, merchant_id: str, reference: str, processor_reference: str | None) -> ProcessorResult:
    charge = _charge(merchant_id, processor_reference)
    if charge is None and reference:
        charges = SandboxCharge.objects.filter(merchant_id=merchant_id)
        charge = charges.filter(reference=reference).first() or (
            charges.filter(capture_reference=reference).first() or charges.filter(void_reference=reference).first()
        )
    if charge is None:
        return ProcessorResult(
            outcome=Outcome.FAILED,
            error_code="resource_missing",
            message="The sandbox has no charge for this reference: it was never processed.",
            raw_status="not_found",
        )
    result = charge_result(charge)
    if charge.status == Status.REQUIRES_ACTION and charge.action == Action.APPROVED:
        # The customer answered but nobody completed yet (like PayPal's APPROVED order): pending on complete().
        return replace(result, outcome=Outcome.PENDING, redirect_url=None, extra={**result.extra, "approved": True})
    return result


# --- refunds --------------------------------------------------------------------------------------


def refund_create(
    *, merchant_id: str, reference: str, processor_reference: str, amount: int, currency: str
) -> ProcessorResult:
    with transaction.atomic():
        charge = _charge(merchant_id, processor_reference, for_update=True)
        if charge is None:
            return _declined("resource_missing", "No such sandbox charge.")
        # Checked under the charge lock, so concurrent refunds see each other's totals.
        existing = SandboxRefund.objects.filter(merchant_id=merchant_id, reference=reference).first()
        if existing is not None:
            if existing.charge_id != charge.id or existing.amount != amount or existing.currency != currency:
                return _declined("idempotency_error", "This refund reference was used with other parameters.")
            existing.charge = charge
            return refund_result(existing)
        refusal = _refund_refusal(charge, amount=amount, currency=currency)
        if refusal is not None:
            return refusal
        refund = SandboxRefund.objects.create(
            merchant_id=merchant_id, reference=reference, charge=charge, amount=amount, currency=currency
        )
        charge.amount_refunded += amount
        charge.save(update_fields=["amount_refunded", "updated"])
        return refund_result(refund)


def _refund_refusal(charge: SandboxCharge, *, amount: int, currency: str) -> ProcessorResult | None:
    if charge.status != Status.SUCCEEDED:
        return _declined("charge_not_captured", "Only a captured charge can be refunded.")
    if currency != charge.currency:
        return _declined("currency_mismatch", "Refund currency differs from the charge.")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return _declined("invalid_amount", "Refund amount must be a positive integer.")
    if amount > charge.amount_captured - charge.amount_refunded:
        return _declined("amount_too_large", "Refund exceeds the captured amount not yet refunded.")
    return None


def refund_status(*, merchant_id: str, reference: str, processor_refund_reference: str | None) -> ProcessorResult:
    refunds = SandboxRefund.objects.filter(merchant_id=merchant_id).select_related("charge")
    refund = None
    if processor_refund_reference:
        refund = refunds.filter(id=processor_refund_reference).first()
    if refund is None and reference:
        refund = refunds.filter(reference=reference).first()
    if refund is None:
        return ProcessorResult(
            outcome=Outcome.FAILED,
            error_code="resource_missing",
            message="The sandbox has no refund for this reference: it was never processed.",
            raw_status="not_found",
        )
    return refund_result(refund)
