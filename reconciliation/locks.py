"""Row locks of the reconciliation app (the only place it takes any).

Order: the run, then its items. A reconciliation never holds a payments lock: the ledger postings it
makes take only the ledger's own per-payment / per-payout advisory locks, last in the lock order.
"""

from .models import ReconciliationItem, ReconciliationRun


def run_lock(*, run_id: str) -> ReconciliationRun:
    return ReconciliationRun.objects.select_for_update(of=("self",)).get(pk=run_id)


def items_lock(*, run_id: str) -> dict[str, ReconciliationItem]:
    return {item.key: item for item in ReconciliationItem.objects.select_for_update().filter(run_id=run_id)}


def item_lock(*, item_id: str) -> ReconciliationItem | None:
    return ReconciliationItem.objects.select_for_update().filter(pk=item_id).first()
