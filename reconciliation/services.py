"""Reconciling one processor account's period: fetch (or read) the processor's record, match it
with our payments and refunds (``reconciliation.matching``), store the run and its items, post the
processor's fees and payouts to the books, hand lost outcomes to the payments janitor, and tell
the merchant about new discrepancies. Also: an operator resolving an item.

Everything a run writes commits in one transaction; the processor is called before it, with no
lock held. A rerun of the same account and period updates the same run: an unchanged period
changes no item, posts nothing twice (every ledger posting is idempotent per settlement id) and
sends no new event.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_note
from events.services import event_record
from gateway.errors import InvalidRequest, not_found
from ledger.selectors import payouts_to_follow
from ledger.services import LedgerPostingError, ledger_post_fee, ledger_post_payout
from payments.selectors import reconciliation_charges, reconciliation_refunds
from payments.services import payment_resolve_later
from processors.base import SettlementKind, SettlementPayout, SettlementReport, SettlementUnavailable
from processors.selectors import (
    SANDBOX_ACCOUNT_ID,
    connector_for_account,
    processor_account_get,
    processor_account_list,
)
from sandbox.selectors import sandbox_merchants_active

from .locks import item_lock, items_lock, run_lock
from .matching import ItemDraft, classify
from .models import Classification, ReconciliationItem, ReconciliationRun, RunSource
from .periods import days_period, yesterday
from .selectors import item_data, run_data, run_find

DISCREPANCY_EVENT = "reconciliation.discrepancy_found"
# A payout reported paid is still re-read this long: Stripe documents paid -> failed.
PAID_PAYOUT_FOLLOW = timedelta(days=10)

logger = logging.getLogger("reconciliation")


@dataclass(frozen=True)
class AccountScope:
    """Which processor account a reconciliation is about, and whose it is."""

    merchant_id: str
    livemode: bool
    processor: str
    account_id: str  # a ProcessorAccount id, or "sandbox"


def account_scope(*, account_id: str | None = None, merchant_id: str | None = None) -> AccountScope:
    """``account_id`` (pra_...) alone, or ``merchant_id`` for the merchant's built-in sandbox."""
    if account_id and account_id != SANDBOX_ACCOUNT_ID:
        account = processor_account_get(account_id=account_id)
        if account is None or (merchant_id and account.merchant_id != merchant_id):
            raise not_found("processor_account", account_id)
        return AccountScope(account.merchant_id, account.livemode, account.processor, account.id)
    if not merchant_id:
        raise InvalidRequest("The sandbox is reconciled per merchant: give the merchant.", param="merchant")
    return AccountScope(merchant_id, False, "sandbox", SANDBOX_ACCOUNT_ID)


def reconciliation_targets(*, now: datetime | None = None) -> list[tuple[str, str]]:
    """(merchant id, account id) of every active processor account, and of every merchant whose
    sandbox booked something yesterday (UTC): what the daily beat reconciles."""
    start, end = days_period(yesterday(now or timezone.now()), yesterday(now or timezone.now()))
    targets = [(a.merchant_id, a.id) for a in processor_account_list() if a.is_active]
    targets += [(merchant_id, SANDBOX_ACCOUNT_ID) for merchant_id in sandbox_merchants_active(since=start, until=end)]
    return targets


def settlement_fetch(*, scope: AccountScope, start: datetime, end: datetime) -> SettlementReport:
    """The processor's own record of [start, end), through the account's connector."""
    connector = connector_for_account(merchant_id=scope.merchant_id, account_id=scope.account_id)
    return connector.settlement_report(start=start, end=end)


def payouts_follow(*, scope: AccountScope, known: set[str], now: datetime | None = None) -> list[SettlementPayout]:
    """Payouts still open in our books (not arrived or failed, or arrived lately), read again by id
    from the processor: a payout is created in one period and arrives (or fails) days later, so
    the run for the day it was created cannot see where it ends. ``known``: ids the period's
    report already has. A payout that cannot be read now is left for the next run."""
    now = now or timezone.now()
    open_payouts = payouts_to_follow(
        merchant_id=scope.merchant_id, livemode=scope.livemode, paid_since=now - PAID_PAYOUT_FOLLOW
    )
    if not open_payouts:
        return []
    connector = connector_for_account(merchant_id=scope.merchant_id, account_id=scope.account_id)
    followed = []
    for payout_id, created in open_payouts:
        if payout_id in known:
            continue
        try:
            followed.append(connector.payout(payout_id=payout_id, created=created))
        except NotImplementedError:
            return followed  # a processor whose payouts are final when reported
        except SettlementUnavailable as error:
            logger.warning("payout could not be read again", extra={"payout": payout_id, "error": str(error)})
    return followed


def reconcile(
    *,
    scope: AccountScope,
    start: datetime,
    end: datetime,
    report: SettlementReport,
    source: str = RunSource.API,
    source_name: str = "",
    now: datetime | None = None,
    followed: list[SettlementPayout] | None = None,
) -> ReconciliationRun:
    """Reconcile ``report`` (the processor's record of [start, end)) for ``scope``; returns the run.

    ``followed``: payouts of earlier periods read again by id (``payouts_follow``); None: read
    them now when the report came from the processor's API (a file has only its own period)."""
    if end <= start:
        raise InvalidRequest("The period must end after it starts.", param="end")
    if report.processor != scope.processor:
        raise InvalidRequest(
            f"The settlement data is {report.processor}'s, the account is {scope.processor}'s.", param="file"
        )
    now = now or timezone.now()
    lines = [line for line in report.lines if start <= line.created < end]
    payouts = [payout for payout in report.payouts if start <= payout.created < end]
    common = {
        "merchant_id": scope.merchant_id,
        "livemode": scope.livemode,
        "processor_account_id": scope.account_id,
    }
    charge_lines = [line for line in lines if line.kind == SettlementKind.CHARGE]
    refund_lines = [line for line in lines if line.kind == SettlementKind.REFUND]
    charges = reconciliation_charges(
        **common,
        processor_references=[line.processor_reference for line in charge_lines]
        + [line.charge_reference or "" for line in refund_lines],
        gateway_references=[line.gateway_reference or "" for line in charge_lines],
        captured_since=start,
        captured_until=end,
    )
    refunds = reconciliation_refunds(
        **common,
        processor_references=[line.processor_reference for line in refund_lines],
        gateway_references=[line.gateway_reference or "" for line in refund_lines],
        succeeded_since=start,
        succeeded_until=end,
    )
    drafts = classify(lines=lines, charges=charges, refunds=refunds, start=start, end=end)
    if followed is None:
        followed = (
            payouts_follow(scope=scope, known={p.payout_id for p in payouts}, now=now)
            if source == RunSource.API
            else []
        )

    with transaction.atomic():
        run = _run_claim(scope=scope, start=start, end=end, now=now)
        refused = _payouts_post(scope=scope, payouts=[*payouts, *followed])
        news = _items_apply(run=run, drafts=drafts + refused, now=now)
        _fees_post(scope=scope, drafts=drafts)
        summary: dict[str, int] = {}
        for item in run.items.all():
            summary[item.classification] = summary.get(item.classification, 0) + 1
        run.summary = summary
        run.lines, run.payouts = len(lines), len(payouts)
        run.source, run.source_name, run.last_run_at = source, source_name[:255], now
        run.save(update_fields=["summary", "lines", "payouts", "source", "source_name", "last_run_at", "runs"])
        if news:
            event_record(
                merchant_id=scope.merchant_id,
                livemode=scope.livemode,
                type=DISCREPANCY_EVENT,
                data={**run_data(run), "discrepancies": [item_data(item) for item in news]},
            )
    return run


def _run_claim(*, scope: AccountScope, start: datetime, end: datetime, now: datetime) -> ReconciliationRun:
    """The period's run, locked (created on its first reconciliation). Two concurrent first runs
    of one period: the loser's insert fails on the unique constraint and it locks the winner's."""
    found = run_find(
        merchant_id=scope.merchant_id,
        livemode=scope.livemode,
        processor_account_id=scope.account_id,
        start=start,
        end=end,
    )
    if found is None:
        try:
            with transaction.atomic():
                return ReconciliationRun.objects.create(
                    merchant_id=scope.merchant_id,
                    livemode=scope.livemode,
                    processor=scope.processor,
                    processor_account_id=scope.account_id,
                    period_start=start,
                    period_end=end,
                    last_run_at=now,
                )
        except IntegrityError:
            found = run_find(
                merchant_id=scope.merchant_id,
                livemode=scope.livemode,
                processor_account_id=scope.account_id,
                start=start,
                end=end,
            )
    run = run_lock(run_id=found.id)
    run.runs += 1
    return run


_DRAFT_FIELDS = (
    "classification",
    "kind",
    "processor_reference",
    "line_id",
    "gateway_reference",
    "payment_id",
    "refund_id",
    "processor_amount",
    "processor_currency",
    "processor_fee",
    "processor_status",
    "gateway_amount",
    "gateway_currency",
    "gateway_status",
    "detail",
    "occurred_at",
)


def _draft_values(draft: ItemDraft) -> dict:
    line = draft.line
    return {
        "classification": draft.classification,
        "kind": draft.kind,
        "processor_reference": line.processor_reference if line else "",
        "line_id": line.line_id if line else "",
        "gateway_reference": (line.gateway_reference or "") if line else "",
        "payment_id": draft.payment_id,
        "refund_id": draft.refund_id,
        "processor_amount": line.amount if line else None,
        "processor_currency": line.currency if line else "",
        "processor_fee": line.fee if line else None,
        "processor_status": line.status if line else "",
        "gateway_amount": draft.gateway_amount,
        "gateway_currency": draft.gateway_currency,
        "gateway_status": draft.gateway_status,
        "detail": draft.detail[:500],
        "occurred_at": line.created if line else None,
    }


def _items_apply(*, run: ReconciliationRun, drafts: list[ItemDraft], now: datetime) -> list[ReconciliationItem]:
    """Upsert the run's items by key; returns the discrepancies that are new in this run (a new
    item, or an item whose class changed, not matched and not resolved). Items the rerun no longer
    produces are deleted unless an operator resolved them: a resolution is never deleted."""
    existing = items_lock(run_id=run.id)
    news = []
    for draft in drafts:
        values = _draft_values(draft)
        item = existing.pop(draft.key, None)
        if item is None:
            item = ReconciliationItem.objects.create(
                merchant_id=run.merchant_id, livemode=run.livemode, run=run, key=draft.key, **values
            )
            changed_class = True
        else:
            changed_class = item.classification != draft.classification
            changed = [name for name in _DRAFT_FIELDS if getattr(item, name) != values[name]]
            for name in changed:
                setattr(item, name, values[name])
            if changed:
                item.save(update_fields=[*changed, "updated"])
        if draft.hand_to_janitor and draft.payment_id and item.handed_to_janitor_at is None and not item.is_resolved:
            payment_resolve_later(payment_id=draft.payment_id)
            item.handed_to_janitor_at = now
            item.save(update_fields=["handed_to_janitor_at", "updated"])
        if changed_class and item.classification != Classification.MATCHED and not item.is_resolved:
            news.append(item)
    ReconciliationItem.objects.filter(pk__in=[i.id for i in existing.values() if not i.is_resolved]).delete()
    return news


def _fees_post(*, scope: AccountScope, drafts: list[ItemDraft]) -> None:
    """Each settled line's fee, on the payment it belongs to (once per settlement line)."""
    for draft in drafts:
        line = draft.line
        if line is None or not line.fee or not draft.fee_payment_id or "#" in draft.key:
            continue
        ledger_post_fee(
            merchant_id=scope.merchant_id,
            livemode=scope.livemode,
            payment_id=draft.fee_payment_id,
            fee_ref=line.line_id,
            amount=line.fee,
            currency=line.currency,
            occurred_at=line.created,
        )


def _payouts_post(*, scope: AccountScope, payouts: list[SettlementPayout]) -> list[ItemDraft]:
    """Each payout into the books in its own savepoint: one the books refuse (already posted for
    another amount, arrived after it failed) becomes a ``payout_refused`` item for an operator
    instead of failing the whole run, so every rerun of the period still completes."""
    refused = []
    for payout in payouts:
        try:
            with transaction.atomic():
                ledger_post_payout(
                    merchant_id=scope.merchant_id,
                    livemode=scope.livemode,
                    payout_id=payout.payout_id,
                    amount=payout.amount,
                    currency=payout.currency,
                    status=payout.status,
                    created_at=payout.created,
                    arrived_at=payout.arrival,
                )
        except (LedgerPostingError, InvalidRequest) as error:
            refused.append(
                ItemDraft(
                    key=f"payout:{payout.payout_id}",
                    classification=Classification.PAYOUT_REFUSED,
                    kind="payout",
                    detail=f"payout {payout.payout_id} ({payout.status}, {payout.amount} {payout.currency}): {error}",
                    gateway_currency=payout.currency,
                )
            )
    return refused


def item_resolve(*, item_id: str, reason: str, actor: str, now: datetime | None = None) -> ReconciliationItem:
    """An operator accepts or explains an item: who, when and why are kept and never overwritten
    (resolving a resolved item again is refused). A reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("A resolution needs a reason.", param="reason")
    if not actor:
        raise InvalidRequest("A resolution needs the operator's name.", param="actor")
    with transaction.atomic():
        item = item_lock(item_id=item_id)
        if item is None:
            raise not_found("reconciliation_item", item_id)
        if item.is_resolved:
            raise InvalidRequest(
                f"Item {item.id} was resolved by {item.resolved_by} at {item.resolved_at:%Y-%m-%d %H:%M} UTC.",
                code="already_resolved",
                param="item",
            )
        item.resolved_at, item.resolved_by, item.resolution_reason = now or timezone.now(), actor[:150], reason
        item.save(update_fields=["resolved_at", "resolved_by", "resolution_reason", "updated"])
        audit_note(
            action="reconciliation_item.resolve",
            object_type="reconciliation.reconciliationitem",
            object_id=item.id,
            merchant_id=item.merchant_id,
            after={"classification": item.classification, "resolved_by": item.resolved_by, "reason": reason},
        )
    return item
