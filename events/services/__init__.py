"""Writes of the events app, one module per concern (callers import from here):

* ``outbox``: ``event_record`` in the caller's transaction, the fan-out of an event to one
  ``Delivery`` per subscribed endpoint, resends, and enqueuing the delivery tasks;
* ``delivery``: one attempt of a delivery (signed POST under the row lock), retries with back-off,
  and the periodic sweep that recovers what a crash lost;
* ``endpoints``: webhook endpoints (validation, create/update/delete, secret rotation).

Delivery flow (see docs/webhooks.md):
1. ``event_record`` writes the event in the caller's transaction and, on commit, enqueues
   ``event_deliveries_create`` (fan-out: one ``Delivery`` per enabled endpoint subscribed to the type).
   One publish per transaction, whatever the number of events it wrote. When the merchant has no
   enabled endpoint in the event's mode at the moment of the INSERT (an EXISTS inside that same
   statement, so no extra round trip), the event is written with ``deliveries_scheduled_at`` already
   set and nothing is published: there is nobody to deliver to. Consequence: an endpoint created or
   enabled concurrently with the change (committed after the event's INSERT) receives only events
   written after it became visible, never that one.
2. ``delivery_attempt`` (one Celery task per delivery) locks the delivery row, checks it is still
   pending and due, POSTs the signed event and records the attempt, all under that lock: a
   redelivered task finds the row locked (skips) or no longer due/pending (does nothing).
3. A failure schedules the next attempt (exponential back-off with jitter); after the last one the
   delivery fails and the endpoint is flagged.
4. ``deliveries_sweep`` (periodic) fans out events the on-commit hook missed and re-enqueues due
   deliveries whose task was lost, so a crash between commit and enqueue loses nothing.
"""

from .delivery import DELIVERY_TRANSITIONS, deliveries_sweep, delivery_attempt, delivery_payload, retry_delay_seconds
from .endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_secrets_reencrypt,
)
from .outbox import event_deliveries_create, event_record, event_resend, events_record

__all__ = [
    "DELIVERY_TRANSITIONS",
    "deliveries_sweep",
    "delivery_attempt",
    "delivery_payload",
    "event_deliveries_create",
    "event_record",
    "event_resend",
    "events_record",
    "retry_delay_seconds",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_rotate_secret",
    "webhook_endpoint_update",
    "webhook_secrets_reencrypt",
]
