"""Writes of the payments app, one module per concern (callers import from here):

* ``confirmation``: create and confirm a payment (authorization along the route, fail-over);
* ``follow_ups``: capture, cancel (void) and complete (after 3-D Secure / PayPal);
* ``refunds``: reserve, call, settle;
* ``settlement``: step 3 of every call, applying the processor's answer (``payments.outcomes``);
* ``recovery``: the answer to a retry of an idempotent request that is no longer running;
* ``sync`` and ``janitor``: resolving unknown outcomes by asking the processor (status sync,
  the beat, processor webhooks as triggers, polls of payments waiting for the customer);
* ``methods``: which payment method a payment uses, the card vault's rows, detaching, rotation;
* ``attempts`` and ``changes``: the plumbing they share (attempt rows and processor calls; a
  saved change's event and cache invalidation).

Every operation that calls a processor runs in three steps, so no row lock is held during the
call and no outcome is ever lost:

1. ``transaction.atomic(durable=True)`` locks the rows (``payments.locks``: order -> payment),
   checks the transition, writes an attempt row (its id is the processor's idempotency key) and
   moves the payment to ``processing``; commit;
2. the connector is called, outside any transaction;
3. a transaction locks the rows again and applies the result through the state table; the ledger
   posting, the order update and the event rows commit together with it.

A crash between 2 and 3 leaves the attempt ``started`` with ``next_sync_at`` in the near future:
the janitor (``payments_sync_due``) then asks the processor what happened. An UNKNOWN outcome
(timeout, lost reply) is never retried with a new reference and never treated as a decline: the
attempt is ``unknown``, the payment stays ``processing``, and the status sync settles it.
"""

from ..errors import InvalidInput, PaymentDeclined, ProcessorRefused, ProcessorUnavailable
from ..inputs import CANCELLATION_REASONS, MethodInput, payment_method_parse, payment_return_url
from .confirmation import payment_confirm, payment_create
from .disputes import DisputedPayment, DisputeEffect, payment_dispute_apply
from .follow_ups import payment_cancel, payment_capture, payment_complete
from .janitor import (
    payment_apply_webhook,
    payment_requires_action_poll,
    payment_resolve,
    payment_resolve_later,
    payments_sync_enqueue_claim,
)
from .methods import payment_method_detach, payment_methods_reencrypt
from .off_session import payment_create_off_session
from .recovery import payment_recover, refund_recover
from .refunds import refund_create
from .sync import payment_sync
from .tokenization import payment_method_for_use, payment_method_tokenize, payment_methods_expired_purge

__all__ = [
    "CANCELLATION_REASONS",
    "DisputeEffect",
    "DisputedPayment",
    "InvalidInput",
    "MethodInput",
    "PaymentDeclined",
    "ProcessorRefused",
    "ProcessorUnavailable",
    "payment_apply_webhook",
    "payment_cancel",
    "payment_capture",
    "payment_complete",
    "payment_confirm",
    "payment_create",
    "payment_create_off_session",
    "payment_dispute_apply",
    "payment_method_detach",
    "payment_method_for_use",
    "payment_method_parse",
    "payment_method_tokenize",
    "payment_methods_expired_purge",
    "payment_methods_reencrypt",
    "payment_recover",
    "payment_requires_action_poll",
    "payment_resolve",
    "payment_resolve_later",
    "payment_return_url",
    "payment_sync",
    "payments_sync_enqueue_claim",
    "refund_create",
    "refund_recover",
]
