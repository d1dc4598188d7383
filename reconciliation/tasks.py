"""Beat tasks: thin, each calls the services. ``reconcile_yesterday`` fans out one task per account
(and one per merchant with sandbox payments); ``reconcile_account`` reconciles one."""

import logging
from datetime import UTC, datetime

from celery import shared_task

from .periods import days_period, yesterday
from .selectors import run_blocking_items
from .services import account_scope, reconcile, reconciliation_targets, settlement_fetch

logger = logging.getLogger("reconciliation")


@shared_task(name="reconciliation.tasks.reconcile_yesterday")
def reconcile_yesterday() -> int:
    day = yesterday(datetime.now(tz=UTC)).isoformat()
    targets = reconciliation_targets()
    for merchant_id, account_id in targets:
        reconcile_account.delay(merchant_id, account_id, day)
    return len(targets)


@shared_task(
    name="reconciliation.tasks.reconcile_account",
    autoretry_for=(Exception,),
    retry_backoff=300,
    retry_jitter=True,
    max_retries=5,
)
def reconcile_account(merchant_id: str, account_id: str, day: str) -> str:
    first = datetime.fromisoformat(day).date()
    start, end = days_period(first, first)
    scope = account_scope(account_id=account_id, merchant_id=merchant_id)
    run = reconcile(scope=scope, start=start, end=end, report=settlement_fetch(scope=scope, start=start, end=end))
    blocking = run_blocking_items(run_id=run.id).count()
    if blocking:
        logger.error(
            "reconciliation %s has %d unresolved blocking item(s)",
            run.id,
            blocking,
            extra={"reconciliation_run": run.id, "merchant_id": merchant_id},
        )
    return run.id
