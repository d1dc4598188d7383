"""A saved change of a payment: the status move through the state table, its event row (in the
transaction of the change: the outbox) and the cache invalidation."""

import copy
from typing import Any

from events.services import event_record
from gateway.statements import instance_update

from ..cache import PAYMENT_CACHE
from ..models import Payment
from ..serializers import payment_data
from ..state import EVENT_FOR_STATUS, payment_transition


def payment_move(payment: Payment, action: str, to: str | None = None) -> str:
    """Apply a transition (in memory; the caller saves); returns the event type it publishes."""
    return EVENT_FOR_STATUS[payment_transition(payment, action, to)]


def payment_changed(payment: Payment, event_type: str | None) -> dict[str, Any] | None:
    """After saving a change: its event row (same transaction) and the cache invalidation. Returns
    the payment's API representation when it serialized one (for the event)."""
    data = None
    if event_type:
        data = payment_data(payment)
        event_record(merchant_id=payment.merchant_id, type=event_type, data=data, livemode=payment.livemode)
    PAYMENT_CACHE.invalidate(object_id=payment.id)
    return data


_SAVED_FIELDS = [f for f in Payment._meta.concrete_fields if not f.primary_key]


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    """The locked payment's column values before a change (``payment_save_changed`` compares).
    Only a JSON column's value can be changed in place: only those are copied (deeply)."""
    snapshot = {}
    for f in _SAVED_FIELDS:
        value = getattr(payment, f.attname)
        snapshot[f.attname] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return snapshot


def payment_save_changed(payment: Payment, before: dict[str, Any]) -> None:
    """UPDATE only the columns that changed since ``before`` (and ``updated``): the hot row is not
    rewritten column by column, 37 of them, for the three or four a settlement moves."""
    changed = [f.name for f in _SAVED_FIELDS if getattr(payment, f.attname) != before[f.attname]]
    instance_update(payment, fields={*changed, "updated"})
