"""Failure injection, as an outside processor's outages would look: per-merchant latency, a
random share of failed calls and deterministic fault plans.

``merchants.selectors.merchant_settings(...)["sandbox"]`` holds ``latency_ms``, ``failure_rate``
(0..1), ``failure_mode`` (``failed`` | ``unknown`` | ``unknown_after_charge``) and, deterministic,
``fail_next`` (n: the next n calls fail, armed once per change of these settings;
``fail_operations`` limits it to some operations) -- or ``sandbox.services.sandbox_fault_plan_set``.
Both arm a ``SandboxFaultPlan`` row. Status queries are never failed: they are how an UNKNOWN
outcome gets resolved.
"""

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connection, transaction

from gateway.cache import MERCHANT_CONFIG
from merchants.selectors import merchant_settings
from processors.base import Outcome, ProcessorResult

from .models import SandboxFaultPlan

logger = logging.getLogger("sandbox")

MAX_LATENCY_MS = 10_000
FAULT_OPERATIONS = ("authorize", "complete", "capture", "void", "refund")
FAILURE_MODES = ("failed", "unknown", "unknown_after_charge")


def fault_operations_field(operations: list[str]) -> str:
    """Stored as ",capture,refund," so one LIKE matches an operation; empty = every operation."""
    return f",{','.join(operations)}," if operations else ""


@dataclass(frozen=True)
class SandboxConfig:
    """A merchant's sandbox settings and fault plan as last loaded (``MERCHANT_CONFIG``)."""

    options: dict
    plan_remaining: int = 0
    plan_operations: str = ""
    plan_marker: str = ""

    def plan_applies(self, operation: str) -> bool:
        return self.plan_remaining > 0 and (not self.plan_operations or f",{operation}," in self.plan_operations)


def sandbox_config(merchant_id: str, *, version: str | None = None) -> SandboxConfig:
    """From this process's memory while the merchant's configuration version is unchanged; every
    write of the settings or the plan invalidates it (``sandbox_config_changed``)."""
    if not merchant_id:
        return SandboxConfig(options={})
    return MERCHANT_CONFIG.get(merchant_id, "sandbox", lambda: _config_load(merchant_id), version=version)


def _config_load(merchant_id: str) -> SandboxConfig:
    options = merchant_settings(merchant_id=merchant_id).get("sandbox")
    plan = (
        SandboxFaultPlan.objects.filter(merchant_id=merchant_id)
        .values_list("remaining", "operations", "settings_marker")
        .first()
    )
    remaining, operations, marker = plan or (0, "", "")
    return SandboxConfig(
        options=options if isinstance(options, dict) else {},
        plan_remaining=remaining,
        plan_operations=operations,
        plan_marker=marker,
    )


def sandbox_config_changed(merchant_id: str) -> None:
    MERCHANT_CONFIG.invalidate(merchant_id)


def faults_applied(
    *, merchant_id: str, operation: str, call: Callable[[], ProcessorResult], config_version: str | None = None
) -> ProcessorResult:
    """Run one sandbox operation as the merchant's failure settings say: after the configured
    latency, maybe not at all (``failed``, ``unknown``), maybe with its reply lost
    (``unknown_after_charge``). The result carries the call's latency.

    ``config_version``: the merchant's configuration version the connector was built under (spares
    a Redis read). No fault plan applies (the common case): no statement at all."""
    started = time.monotonic()
    config = sandbox_config(merchant_id, version=config_version)
    options = config.options
    _latency_sleep(options)
    fault = None
    if operation in FAULT_OPERATIONS:
        if _arm_from_settings(merchant_id, options, config):
            config = sandbox_config(merchant_id)
        planned = _planned_fault(merchant_id, operation) if config.plan_applies(operation) else None
        fault = planned or _random_fault(options)
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


def _latency_sleep(options: dict) -> None:
    try:
        latency_ms = int(options.get("latency_ms") or 0)
    except (TypeError, ValueError):
        latency_ms = 0
    if latency_ms > 0:
        time.sleep(min(latency_ms, settings.SANDBOX_MAX_LATENCY_MS, MAX_LATENCY_MS) / 1000)


def _planned_fault(merchant_id: str, operation: str) -> str | None:
    """Consume one planned failure for this operation, atomically (one statement)."""
    table = SandboxFaultPlan._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET remaining = remaining - 1 "  # noqa: S608 (table name from the model)
            "WHERE merchant_id = %s AND remaining > 0 AND (operations = '' OR operations LIKE %s) "
            "RETURNING mode, remaining",
            [merchant_id, f"%,{operation},%"],
        )
        row = cursor.fetchone()
    if row is None or row[1] == 0:
        # Used up (or found so): every process forgets the plan, later calls make no statement.
        sandbox_config_changed(merchant_id)
    return row[0] if row else None


def _arm_from_settings(merchant_id: str, options: dict, config: SandboxConfig) -> bool:
    """``"fail_next": n`` in the merchant's sandbox settings arms the plan once per settings change.
    Returns whether it armed it now (already armed for these settings, the common case: no statement)."""
    count = options.get("fail_next")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return False
    marker = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()
    if config.plan_marker == marker:
        return False
    mode = options.get("failure_mode") if options.get("failure_mode") in FAILURE_MODES else "failed"
    raw_ops = options.get("fail_operations") or []
    ops = [op for op in raw_ops if op in FAULT_OPERATIONS] if isinstance(raw_ops, list) else []
    with transaction.atomic():
        plan, created = SandboxFaultPlan.objects.select_for_update().get_or_create(
            merchant_id=merchant_id,
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
        sandbox_config_changed(merchant_id)
    return True


def _random_fault(options: dict) -> str | None:
    try:
        rate = float(options.get("failure_rate") or 0)
    except (TypeError, ValueError):
        return None
    if rate > 0 and random.random() < rate:
        mode = options.get("failure_mode") or "failed"
        return mode if mode in FAILURE_MODES else "failed"
    return None
