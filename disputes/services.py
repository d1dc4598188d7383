"""Disputes from the processors: a notification (verified webhook, or the sandbox) names a
dispute; the dispute is then *read from the processor* (``Connector.dispute``) and that answer is
applied, never the notification's body (as payments treat webhooks: triggers, not verdicts).

One transaction per change, in the lock order order -> payment -> dispute -> ledger
(``payments.services.payment_dispute_apply`` locks the order and the payment and calls back): the dispute row,
the ledger posting (``disputes.books``), its event (``dispute.created|updated|closed``), the
payment's ``disputed``/``amount_disputed`` and its order's ``amount_disputed``.
"""

import logging
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from events.services import event_record
from payments.selectors import payment_for_dispute
from payments.services import DisputedPayment, DisputeEffect, payment_dispute_apply
from processors.base import DisputeInfo
from processors.selectors import connector_for_account

from .books import _ledger_fee_catch_up, _ledger_reinstate, _ledger_withdraw
from .locks import dispute_lock
from .models import Dispute
from .selectors import payment_dispute_figures
from .serializers import dispute_data
from .state import CLOSED_STATUSES, FUNDS_WITHDRAWN_STATUSES, WON, event_for, transition_allowed

logger = logging.getLogger("disputes")


def dispute_notified(*, merchant_id: str, processor_account_id: str, dispute_reference: str) -> None:
    """Registered as the processors app's dispute handler (DisputesConfig.ready): read the dispute
    after the receipt commits (no HTTP call inside the webhook's transaction)."""
    from .tasks import dispute_sync as dispute_sync_task  # the tasks module imports this one

    transaction.on_commit(
        lambda: dispute_sync_task.delay(merchant_id, processor_account_id, dispute_reference), robust=True
    )


def dispute_sync(*, merchant_id: str, processor_account_id: str, dispute_reference: str) -> Dispute | None:
    """Read the dispute from its processor and apply it. ``DisputeLookupError`` (cannot read it
    now) propagates: the task retries. None: the dispute names no payment of ours."""
    connector = connector_for_account(merchant_id=merchant_id, account_id=processor_account_id)
    info = connector.dispute(processor_dispute_reference=dispute_reference)
    payment_id = payment_for_dispute(
        merchant_id=merchant_id, processor_account_id=processor_account_id, references=info.charge_references
    )
    if payment_id is None:
        logger.warning(
            "dispute for a charge the gateway does not know",
            extra={"dispute": dispute_reference, "account": processor_account_id},
        )
        return None
    return dispute_apply(
        merchant_id=merchant_id,
        processor=connector.name,
        processor_account_id=processor_account_id,
        payment_id=payment_id,
        info=info,
    )


def dispute_apply(
    *, merchant_id: str, processor: str, processor_account_id: str, payment_id: str, info: DisputeInfo
) -> Dispute:
    """Mirror the processor's dispute onto ours, under the payment's lock."""
    result: dict[str, Dispute] = {}

    def apply(payment: DisputedPayment) -> DisputeEffect:
        result["dispute"] = _dispute_change(
            payment=payment, processor=processor, processor_account_id=processor_account_id, info=info
        )
        disputed, held = payment_dispute_figures(payment_id=payment.id)
        return DisputeEffect(disputed=disputed, amount_disputed=held)

    payment_dispute_apply(payment_id=payment_id, apply=apply)
    return result["dispute"]


def _dispute_change(
    *, payment: DisputedPayment, processor: str, processor_account_id: str, info: DisputeInfo
) -> Dispute:
    dispute = dispute_lock(
        merchant_id=payment.merchant_id,
        processor_account_id=processor_account_id,
        processor_reference=info.processor_reference,
    )
    created = dispute is None
    old_status = None if dispute is None else dispute.status
    if not transition_allowed(old_status, info.status):
        logger.warning(
            "dispute status move refused by the state table",
            extra={"dispute": dispute.id if dispute else None, "from": old_status, "to": info.status},
        )
        assert dispute is not None  # a new dispute accepts any status
        return dispute
    if dispute is None:
        dispute = Dispute(
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            payment_id=payment.id,
            order_id=payment.order_id or "",
            processor=processor,
            processor_account_id=processor_account_id,
            processor_reference=info.processor_reference,
        )
    before = None if created else dispute_data(dispute)
    dispute.amount = info.amount
    dispute.currency = info.currency
    dispute.reason = info.reason[:64]
    dispute.status = info.status
    dispute.processor_status = info.raw_status[:64]
    dispute.fee = max(dispute.fee, info.fee)
    dispute.fee_returned = max(dispute.fee_returned, info.fee_returned)
    if info.fee_currency_elsewhere:
        logger.info(
            "dispute fee charged in the settlement currency; left to reconciliation",
            extra={"dispute": dispute.id, "fee_currency": info.fee_currency_elsewhere, "currency": info.currency},
        )
    dispute.evidence_due_by = (
        datetime.fromtimestamp(info.evidence_due_by, tz=UTC) if info.evidence_due_by is not None else None
    )
    if info.status in CLOSED_STATUSES and dispute.closed_at is None:
        dispute.closed_at = timezone.now()
    if created:
        dispute.save(force_insert=True)
    if info.status in FUNDS_WITHDRAWN_STATUSES:
        _ledger_withdraw(dispute=dispute)
        _ledger_fee_catch_up(dispute=dispute)
    if info.status == WON:
        _ledger_reinstate(dispute=dispute)
    dispute.save()
    after = dispute_data(dispute)
    if created or _changed(before, after):
        event_record(
            merchant_id=dispute.merchant_id,
            type=event_for(created=created, old_status=old_status, new_status=dispute.status),
            data=after,
            livemode=dispute.livemode,
        )
    return dispute


def _changed(before: dict | None, after: dict) -> bool:
    if before is None:
        return True
    ignored = {"updated"}
    return {k: v for k, v in before.items() if k not in ignored} != {k: v for k, v in after.items() if k not in ignored}
