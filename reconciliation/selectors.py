"""Reads of reconciliation runs and items, for the commands, admin and the tests."""

from datetime import datetime

from django.db.models import QuerySet

from .models import BLOCKING_CLASSIFICATIONS, Classification, ReconciliationItem, ReconciliationRun


def run_find(*, merchant_id: str, livemode: bool, processor_account_id: str, start: datetime, end: datetime):
    return ReconciliationRun.objects.filter(
        merchant_id=merchant_id,
        livemode=livemode,
        processor_account_id=processor_account_id,
        period_start=start,
        period_end=end,
    ).first()


def run_items(*, run_id: str) -> QuerySet[ReconciliationItem]:
    return ReconciliationItem.objects.filter(run_id=run_id).order_by("id")


def item_get(*, item_id: str) -> ReconciliationItem | None:
    return ReconciliationItem.objects.filter(pk=item_id).select_related("run").first()


def run_blocking_items(*, run_id: str) -> QuerySet[ReconciliationItem]:
    """Unresolved items that keep ``manage.py reconcile`` failing (missing_in_gateway, amount_mismatch)."""
    return run_items(run_id=run_id).filter(classification__in=sorted(BLOCKING_CLASSIFICATIONS), resolved_at=None)


def item_data(item: ReconciliationItem) -> dict:
    """An item as the commands and the merchant's event show it (amounts in minor units)."""
    return {
        "object": "reconciliation_item",
        "id": item.id,
        "classification": item.classification,
        "kind": item.kind,
        "processor_reference": item.processor_reference,
        "line_id": item.line_id,
        "gateway_reference": item.gateway_reference,
        "payment": item.payment_id or None,
        "refund": item.refund_id or None,
        "processor_amount": item.processor_amount,
        "processor_currency": item.processor_currency or None,
        "processor_fee": item.processor_fee,
        "processor_status": item.processor_status or None,
        "gateway_amount": item.gateway_amount,
        "gateway_currency": item.gateway_currency or None,
        "gateway_status": item.gateway_status or None,
        "detail": item.detail,
        "resolved": item.resolved_at is not None,
        "resolved_at": int(item.resolved_at.timestamp()) if item.resolved_at else None,
        "resolved_by": item.resolved_by or None,
        "resolution_reason": item.resolution_reason or None,
    }


def run_data(run: ReconciliationRun) -> dict:
    return {
        "object": "reconciliation_run",
        "id": run.id,
        "processor": run.processor,
        "processor_account": run.processor_account_id,
        "livemode": run.livemode,
        "period_start": int(run.period_start.timestamp()),
        "period_end": int(run.period_end.timestamp()),
        "source": run.source,
        "lines": run.lines,
        "payouts": run.payouts,
        "summary": {c.value: run.summary.get(c.value, 0) for c in Classification},
        "runs": run.runs,
    }
