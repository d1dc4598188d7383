"""The built-in sandbox processor behind ``processors.base.Connector``.

It behaves like an outside processor with its own book (``SandboxCharge``/``SandboxRefund``):

* Our ``reference`` is its idempotency key: the same reference never charges (or refunds,
  captures) twice; a repeat returns the recorded result; a repeat with other parameters is
  refused with ``idempotency_error``.
* Test cards (Stripe's numbers) choose the outcome; any other card succeeds. PayPal and the
  3-D Secure card return ``REQUIRES_ACTION`` with a page served at ``/sandbox/...``; the
  customer's choice there is recorded, and ``complete()`` finishes the charge.
* Failure injection per merchant: ``merchants.selectors.merchant_settings(...)["sandbox"]``
  with ``latency_ms``, ``failure_rate`` (0..1), ``failure_mode`` (``failed`` | ``unknown`` |
  ``unknown_after_charge``) and, deterministic, ``fail_next`` (n: the next n calls fail, armed
  once per change of these settings; ``fail_operations`` limits it to some operations) -- or
  ``sandbox.services.sandbox_fault_plan_set``. Both arm a ``SandboxFaultPlan`` row.
  Status queries are never failed: they are how an UNKNOWN outcome gets resolved.

Charge states (the sandbox's own): requires_action -> requires_capture | succeeded | declined |
canceled; requires_capture -> succeeded (capture, partial allowed) | canceled (void);
succeeded -> refunds up to amount_captured.
"""

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from gateway.ids import new_id
from gateway.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from merchants.selectors import merchant_settings
from processors.base import AuthorizeRequest, CardDetails, Connector, Outcome, ProcessorResult
from processors.registry import register

from .models import SandboxCharge, SandboxFaultPlan, SandboxRefund

logger = logging.getLogger("sandbox")

MAX_LATENCY_MS = 10_000
FAULT_OPERATIONS = ("authorize", "complete", "capture", "void", "refund")
FAILURE_MODES = ("failed", "unknown", "unknown_after_charge")

Status = SandboxCharge.Status
Action = SandboxCharge.Action


@dataclass(frozen=True)
class CardScenario:
    kind: str  # success | decline | three_ds
    decline_code: str | None = None
    error_code: str | None = None
    message: str | None = None


_DECLINED = "Your card was declined."
TEST_CARDS: dict[str, CardScenario] = {
    "4242424242424242": CardScenario("success"),
    "5555555555554444": CardScenario("success"),
    "4000000000000002": CardScenario("decline", "generic_decline", "card_declined", _DECLINED),
    "4000000000009995": CardScenario(
        "decline", "insufficient_funds", "card_declined", "Your card has insufficient funds."
    ),
    "4000000000009987": CardScenario("decline", "lost_card", "card_declined", _DECLINED),
    "4000000000009979": CardScenario("decline", "stolen_card", "card_declined", _DECLINED),
    "4000000000000069": CardScenario("decline", "expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": CardScenario(
        "decline", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "4000000000000119": CardScenario(
        "decline",
        None,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000002500003155": CardScenario("three_ds"),
}
# Error codes of declines the customer may simply retry with the same card.
RETRYABLE_ERROR_CODES = frozenset({"processing_error"})

AUTHENTICATION_FAILED = {
    "decline_code": "authentication_failed",
    "error_code": "authentication_required",
    "message": "The customer failed 3-D Secure authentication.",
}
PAYPAL_CANCELED = {
    "decline_code": "",
    "error_code": "payment_method_canceled",
    "message": "The customer cancelled the PayPal approval.",
}


def card_brand_guess(number: str) -> str:
    """The network as a processor reads it off the number (the gateway validated it already)."""
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "64", "65")):
        return "discover"
    if number[:4].isdigit() and 3528 <= int(number[:4]) <= 3589:
        return "jcb"
    if number.startswith(("36", "38", "39", "30")):
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def _declined(code: str, message: str, *, decline_code: str | None = None, **extra) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.DECLINED, decline_code=decline_code, error_code=code, message=message, extra=extra
    )


def fault_operations_field(operations: list[str]) -> str:
    """Stored as ",capture,refund," so one LIKE matches an operation; empty = every operation."""
    return f",{','.join(operations)}," if operations else ""


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
            message=_decline_message(charge),
            extra=extra,
            **common,
        )
    # requires_capture, succeeded, canceled: the operation asked for happened; raw_status tells which.
    return ProcessorResult(outcome=Outcome.SUCCEEDED, extra=extra, **common)


def _decline_message(charge: SandboxCharge) -> str:
    if charge.error_code == AUTHENTICATION_FAILED["error_code"]:
        return AUTHENTICATION_FAILED["message"]
    if charge.error_code == PAYPAL_CANCELED["error_code"]:
        return PAYPAL_CANCELED["message"]
    for scenario in TEST_CARDS.values():
        if scenario.error_code == charge.error_code and scenario.decline_code == (charge.decline_code or None):
            return scenario.message or _DECLINED
    return _DECLINED


def refund_result(refund: SandboxRefund) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.SUCCEEDED,
        processor_reference=refund.id,
        amount_refunded=refund.amount,
        raw_status=refund.status,
        extra={"charge": refund.charge_id, "charge_amount_refunded": refund.charge.amount_refunded},
    )


@register
class SandboxConnector(Connector):
    name = "sandbox"

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def merchant_id(self) -> str:
        return str(self.config.get("merchant_id") or "")

    def _options(self) -> dict:
        options = merchant_settings(merchant_id=self.merchant_id).get("sandbox") if self.merchant_id else None
        return options if isinstance(options, dict) else {}

    def _planned_fault(self, operation: str) -> str | None:
        """Consume one planned failure for this operation, atomically (one statement)."""
        table = SandboxFaultPlan._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET remaining = remaining - 1 "  # noqa: S608 (table name from the model)
                "WHERE merchant_id = %s AND remaining > 0 AND (operations = '' OR operations LIKE %s) "
                "RETURNING mode",
                [self.merchant_id, f"%,{operation},%"],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    def _arm_from_settings(self, options: dict) -> None:
        """``"fail_next": n`` in the merchant's sandbox settings arms the plan once per settings change."""
        count = options.get("fail_next")
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            return
        marker = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()
        mode = options.get("failure_mode") if options.get("failure_mode") in FAILURE_MODES else "failed"
        raw_ops = options.get("fail_operations") or []
        ops = [op for op in raw_ops if op in FAULT_OPERATIONS] if isinstance(raw_ops, list) else []
        with transaction.atomic():
            plan, created = SandboxFaultPlan.objects.select_for_update().get_or_create(
                merchant_id=self.merchant_id,
                defaults={
                    "remaining": count,
                    "mode": mode,
                    "operations": fault_operations_field(ops),
                    "settings_marker": marker,
                },
            )
            if not created and plan.settings_marker != marker:
                plan.remaining, plan.mode, plan.operations, plan.settings_marker = (
                    count,
                    mode,
                    fault_operations_field(ops),
                    marker,
                )
                plan.save()

    def _random_fault(self, options: dict) -> str | None:
        try:
            rate = float(options.get("failure_rate") or 0)
        except (TypeError, ValueError):
            return None
        if rate > 0 and random.random() < rate:
            mode = options.get("failure_mode") or "failed"
            return mode if mode in FAILURE_MODES else "failed"
        return None

    def _run(self, operation: str, call: Callable[[], ProcessorResult]) -> ProcessorResult:
        started = time.monotonic()
        options = self._options()
        try:
            latency_ms = int(options.get("latency_ms") or 0)
        except (TypeError, ValueError):
            latency_ms = 0
        if latency_ms > 0:
            time.sleep(min(latency_ms, settings.SANDBOX_MAX_LATENCY_MS, MAX_LATENCY_MS) / 1000)
        fault = None
        if operation in FAULT_OPERATIONS:
            self._arm_from_settings(options)
            fault = self._planned_fault(operation) or self._random_fault(options)
        if fault == "failed":
            result = ProcessorResult(
                outcome=Outcome.FAILED,
                error_code="processor_unavailable",
                message="Sandbox: injected failure; the request was not processed.",
            )
        elif fault == "unknown":
            result = ProcessorResult(
                outcome=Outcome.UNKNOWN, error_code="timeout", message="Sandbox: injected timeout; not processed."
            )
        else:
            result = call()
            if fault == "unknown_after_charge":
                # Processed, but the reply is "lost": only status()/refund_status() can tell.
                result = ProcessorResult(
                    outcome=Outcome.UNKNOWN, error_code="timeout", message="Sandbox: injected lost reply."
                )
        result = replace(result, latency_ms=int((time.monotonic() - started) * 1000))
        logger.info(
            "sandbox call",
            extra={
                "sandbox_operation": operation,
                "outcome": str(result.outcome),
                "processor_reference": result.processor_reference,
                "injected_fault": fault,
            },
        )
        return result

    def _charge(self, processor_reference: str | None, *, for_update: bool = False) -> SandboxCharge | None:
        if not processor_reference:
            return None
        queryset = SandboxCharge.objects.filter(merchant_id=self.merchant_id, id=processor_reference)
        if for_update:
            queryset = queryset.select_for_update()
        return queryset.first()

    # --- Connector interface --------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        return self._run("authorize", lambda: self._authorize(request))

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        return self._run("complete", lambda: self._complete(processor_reference=processor_reference, capture=capture))

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._run(
            "capture",
            lambda: self._capture(
                reference=reference, processor_reference=processor_reference, amount=amount, currency=currency
            ),
        )

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        return self._run("void", lambda: self._void(reference=reference, processor_reference=processor_reference))

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._run(
            "refund",
            lambda: self._refund(
                reference=reference, processor_reference=processor_reference, amount=amount, currency=currency
            ),
        )

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        return self._run("status", lambda: self._status(reference=reference, processor_reference=processor_reference))

    def refund_status(
        self, *, reference: str, processor_refund_reference: str | None, processor_reference: str | None = None
    ) -> ProcessorResult:
        return self._run(
            "refund_status",
            lambda: self._refund_status(reference=reference, processor_refund_reference=processor_refund_reference),
        )

    # --- operations -----------------------------------------------------------------------------

    def _authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        invalid = self._authorize_invalid(request)
        if invalid is not None:
            existing = SandboxCharge.objects.filter(merchant_id=self.merchant_id, reference=request.reference).first()
            return self._replay(existing, request) if existing is not None else invalid
        fields: dict = {
            "merchant_id": self.merchant_id,
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
            fields.update(id=new_id("sbch"), **self._card_outcome(request.card, request))
        # Insert first (the common case is a new reference); the unique (merchant, reference)
        # constraint turns a repeat or a concurrent duplicate into a replay of the recorded charge.
        try:
            with transaction.atomic():
                charge = SandboxCharge.objects.create(**fields)
        except IntegrityError:
            charge = SandboxCharge.objects.get(merchant_id=self.merchant_id, reference=request.reference)
            return self._replay(charge, request)
        return charge_result(charge)

    @staticmethod
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

    def _card_outcome(self, card: CardDetails, request: AuthorizeRequest) -> dict:
        fields = {"brand": card_brand_guess(card.number), "last4": card.number[-4:]}
        scenario = TEST_CARDS.get(card.number, CardScenario("success"))
        now = datetime.now(UTC)
        if scenario.kind == "success" and (card.exp_year, card.exp_month) < (now.year, now.month):
            scenario = TEST_CARDS["4000000000000069"]
        if scenario.kind == "decline":
            return fields | {
                "status": Status.DECLINED,
                "decline_code": scenario.decline_code or "",
                "error_code": scenario.error_code or "",
            }
        if scenario.kind == "three_ds":
            return fields | {"status": Status.REQUIRES_ACTION, "action": Action.PENDING}
        return fields | self._authorized_fields(amount=request.amount, capture=request.capture)

    @staticmethod
    def _authorized_fields(*, amount: int, capture: bool) -> dict:
        return {
            "status": Status.SUCCEEDED if capture else Status.REQUIRES_CAPTURE,
            "amount_authorized": amount,
            "amount_captured": amount if capture else 0,
        }

    def _replay(self, charge: SandboxCharge, request: AuthorizeRequest) -> ProcessorResult:
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
    def _complete(self, *, processor_reference: str, capture: bool) -> ProcessorResult:
        charge = self._charge(processor_reference, for_update=True)
        if charge is None:
            return _declined("resource_missing", "No such sandbox charge.")
        if charge.status == Status.REQUIRES_ACTION and charge.action == Action.APPROVED:
            for key, value in self._authorized_fields(amount=charge.amount, capture=capture).items():
                setattr(charge, key, value)
            charge.capture_requested = capture
            charge.save()
        if charge.status == Status.CANCELED:
            return _declined("charge_canceled", "The charge was canceled before it was completed.")
        # Pending: still REQUIRES_ACTION; already finished: the recorded result (idempotent).
        return charge_result(charge)

    @transaction.atomic
    def _capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        charge = self._charge(processor_reference, for_update=True)
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
        charge.status = Status.SUCCEEDED
        charge.capture_reference = reference
        charge.save()
        return charge_result(charge)

    @transaction.atomic
    def _void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        charge = self._charge(processor_reference, for_update=True)
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

    def _refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        with transaction.atomic():
            charge = self._charge(processor_reference, for_update=True)
            if charge is None:
                return _declined("resource_missing", "No such sandbox charge.")
            # Checked under the charge lock, so concurrent refunds see each other's totals.
            existing = SandboxRefund.objects.filter(merchant_id=self.merchant_id, reference=reference).first()
            if existing is not None:
                if existing.charge_id != charge.id or existing.amount != amount or existing.currency != currency:
                    return _declined("idempotency_error", "This refund reference was used with other parameters.")
                existing.charge = charge
                return refund_result(existing)
            if charge.status != Status.SUCCEEDED:
                return _declined("charge_not_captured", "Only a captured charge can be refunded.")
            if currency != charge.currency:
                return _declined("currency_mismatch", "Refund currency differs from the charge.")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                return _declined("invalid_amount", "Refund amount must be a positive integer.")
            if amount > charge.amount_captured - charge.amount_refunded:
                return _declined("amount_too_large", "Refund exceeds the captured amount not yet refunded.")
            refund = SandboxRefund.objects.create(
                merchant_id=self.merchant_id, reference=reference, charge=charge, amount=amount, currency=currency
            )
            charge.amount_refunded += amount
            charge.save(update_fields=["amount_refunded", "updated"])
            return refund_result(refund)

    def _status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        charge = self._charge(processor_reference)
        if charge is None and reference:
            charges = SandboxCharge.objects.filter(merchant_id=self.merchant_id)
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

    def _refund_status(self, *, reference: str, processor_refund_reference: str | None) -> ProcessorResult:
        refunds = SandboxRefund.objects.filter(merchant_id=self.merchant_id).select_related("charge")
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
