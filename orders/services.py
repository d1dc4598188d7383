"""Writes of the orders app. Every change of an order, in one transaction: the row (locked), its
event (``events.services.event_record``), the customer notification row, the cache rotation and
the notification task (both after commit).

The payments app drives the paid and refunded transitions through ``order_lock`` +
``order_mark_paid`` / ``order_record_refund``, and shows disputes through ``order_record_dispute``,
never by writing the order's fields.
"""

import logging
import smtplib
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone

from customers.selectors import customer_contact, customer_get
from events.services import event_record
from gateway.errors import Conflict, InvalidRequest, NotFound, not_found
from gateway.money import MAX_AMOUNT, amount_validate, currency_validate, to_decimal_string
from merchants.selectors import merchant_get

from .cache import order_cache_invalidate
from .models import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    ORDER_TRANSITIONS,
    Notification,
    NotificationKind,
    NotificationStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from .serializers import customer_order_data, order_data

logger = logging.getLogger("orders")


# --- state machine -----------------------------------------------------------------------------


def order_unexpected_state(order: Order, action: str) -> Conflict:
    return Conflict(
        f"This order's status is '{order.status}'; it cannot {action}.",
        code="order_unexpected_state",
    )


def _order_require_transition(order: Order, to_status: str, action: str) -> None:
    if to_status not in ORDER_TRANSITIONS[order.status]:
        raise order_unexpected_state(order, action)


def _require_atomic(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name} must run inside the transaction that locked the order")


def _order_changed(order: Order, *, fields: Sequence[str], event: str, notify: bool = True) -> Order:
    """Persist ``fields``, write the event ``order.<event>`` and (``notify``) the customer's notification."""
    order.save(update_fields=[*fields, "updated"])
    if "lines" not in getattr(order, "_prefetched_objects_cache", {}):
        # Read once for the event, the notification snapshot and the caller's response.
        prefetch_related_objects([order], Prefetch("lines", queryset=OrderLine.objects.order_by("position")))
    event_record(merchant_id=order.merchant_id, type=f"order.{event}", data=order_data(order), livemode=order.livemode)
    if notify:
        _notification_create(order=order, kind=event)
    order_cache_invalidate(order_id=order.id)
    return order


# --- orders ------------------------------------------------------------------------------------


def _line_validate(index: int, line: Mapping[str, Any]) -> tuple[int, int]:
    quantity = line["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidRequest(
            f"lines[{index}].quantity must be an integer between 1 and {MAX_LINE_QUANTITY}.",
            code="parameter_invalid",
            param=f"lines[{index}].quantity",
        )
    unit_amount = amount_validate(line["unit_amount"], param=f"lines[{index}].unit_amount")
    amount = quantity * unit_amount
    if amount > MAX_AMOUNT:
        raise InvalidRequest(
            f"lines[{index}]: quantity x unit_amount must not exceed {MAX_AMOUNT}.",
            code="amount_out_of_range",
            param=f"lines[{index}]",
        )
    return quantity, amount


def order_create(
    *,
    merchant_id: str,
    customer_id: str,
    currency: str,
    lines: Sequence[Mapping[str, Any]],
    shipping_amount: int = 0,
    tax_amount: int = 0,
    metadata: dict[str, str] | None = None,
    livemode: bool = False,
) -> Order:
    """Create a pending order; ``subtotal`` and ``total`` are computed here, each bounded by MAX_AMOUNT.

    ``lines``: 1..100 mappings of ``sku``, ``name``, ``quantity`` (>= 1), ``unit_amount`` (>= 0).
    """
    currency = currency_validate(currency)
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidRequest(f"An order has 1 to {MAX_LINES} lines.", code="parameter_invalid", param="lines")
    amounts = [_line_validate(index, line) for index, line in enumerate(lines)]
    subtotal = sum(amount for _, amount in amounts)
    if subtotal > MAX_AMOUNT:
        raise InvalidRequest(
            f"The sum of the lines ({subtotal}) exceeds the maximum amount {MAX_AMOUNT}.",
            code="amount_out_of_range",
            param="lines",
        )
    shipping_amount = amount_validate(shipping_amount, param="shipping_amount")
    tax_amount = amount_validate(tax_amount, param="tax_amount")
    total = subtotal + shipping_amount + tax_amount
    if total > MAX_AMOUNT:
        raise InvalidRequest(
            f"The order total ({total}) exceeds the maximum amount {MAX_AMOUNT}.",
            code="amount_out_of_range",
            param="total",
        )
    try:
        # A customer of the other mode is as unknown here as another merchant's.
        customer = customer_get(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
    except NotFound:
        raise not_found("customer", customer_id, param="customer") from None
    if getattr(customer, "is_erased", False):
        raise InvalidRequest(
            "This customer's data was erased; it cannot place orders.", code="customer_erased", param="customer"
        )

    with transaction.atomic():
        order = Order.objects.create(
            merchant_id=merchant_id,
            customer_id=customer.pk,
            livemode=livemode,
            currency=currency,
            subtotal=subtotal,
            shipping_amount=shipping_amount,
            tax_amount=tax_amount,
            total=total,
            metadata=metadata or {},
        )
        order_lines = OrderLine.objects.bulk_create(
            OrderLine(
                merchant_id=merchant_id,
                order=order,
                position=index,
                sku=line["sku"],
                name=line["name"],
                quantity=quantity,
                unit_amount=line["unit_amount"],
                amount=amount,
            )
            for index, (line, (quantity, amount)) in enumerate(zip(lines, amounts, strict=True))
        )
        # The representation reads the lines; hand them over instead of querying them back.
        order._prefetched_objects_cache = {"lines": order_lines}
        event_record(merchant_id=merchant_id, type="order.created", data=order_data(order), livemode=livemode)
        _notification_create(order=order, kind=NotificationKind.CREATED)
    return order


def order_lock(*, merchant_id: str, order_id: str, livemode: bool = False) -> Order:
    """The merchant's order of this mode, row-locked until the caller's transaction ends (first in
    the lock order, see ``payments.locks``). Another merchant's or mode's order is a 404.

    ``FOR NO KEY UPDATE`` of the order row only: it excludes every other writer of the order but
    not the inserts of rows that refer to it (payments, notifications, events)."""
    _require_atomic("order_lock")
    order = (
        Order.objects.select_for_update(no_key=True, of=("self",))
        .filter(merchant_id=merchant_id, livemode=livemode, id=order_id)
        .first()
    )
    if order is None:
        raise not_found("order", order_id)
    return order


def order_cancel(*, merchant_id: str, order_id: str, livemode: bool = False) -> Order:
    """pending -> canceled, only while nothing has been paid."""
    with transaction.atomic():
        order = order_lock(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
        _order_require_transition(order, OrderStatus.CANCELED, "be canceled")
        if order.amount_paid:
            raise Conflict(
                f"This order's status is '{order.status}' with {order.amount_paid} of {order.total} already paid; "
                "only an unpaid order can be canceled.",
                code="order_unexpected_state",
            )
        # The order row lock is also what payments takes first, so no payment can start meanwhile.
        from payments.selectors import order_has_active_payment

        if order_has_active_payment(order_id=order.id):
            raise Conflict(
                "A payment for this order is in progress or holds an authorization; cancel that payment first.",
                code="order_has_active_payment",
            )
        order.status = OrderStatus.CANCELED
        order.canceled_at = timezone.now()
        return _order_changed(order, fields=["status", "canceled_at"], event=NotificationKind.CANCELED)


def order_fulfill(*, merchant_id: str, order_id: str, livemode: bool = False) -> Order:
    """paid -> fulfilled (the goods are on their way)."""
    with transaction.atomic():
        order = order_lock(merchant_id=merchant_id, order_id=order_id, livemode=livemode)
        _order_require_transition(order, OrderStatus.FULFILLED, "be fulfilled")
        order.status = OrderStatus.FULFILLED
        order.fulfilled_at = timezone.now()
        return _order_changed(order, fields=["status", "fulfilled_at"], event=NotificationKind.FULFILLED)


def order_mark_paid(*, order: Order, amount: int) -> Order:
    """Record ``amount`` paid on an order the caller locked (``order_lock``) in this transaction.

    Adds to ``amount_paid``; once nothing is outstanding the order becomes ``paid`` (event
    ``order.paid`` + notification). A partial payment leaves it ``pending`` (event
    ``order.updated``, no e-mail). More than the
    outstanding amount is a 409 ``amount_exceeds_outstanding``.
    """
    _require_atomic("order_mark_paid")
    _order_require_transition(order, OrderStatus.PAID, "accept a payment")
    outstanding = order.amount_outstanding
    # A zero-total order is paid by a zero payment; otherwise a payment moves money.
    amount = amount_validate(amount, param="amount", minimum=0 if outstanding == 0 else 1)
    if amount > outstanding:
        raise Conflict(
            f"The payment ({amount}) exceeds what is outstanding on this order ({outstanding}).",
            code="amount_exceeds_outstanding",
            param="amount",
        )
    order.amount_paid += amount
    if order.amount_paid < order.total:
        # Still pending: merchants hear of it (order.updated), the customer waits for "paid".
        return _order_changed(order, fields=["amount_paid"], event="updated", notify=False)
    order.status = OrderStatus.PAID
    order.paid_at = timezone.now()
    return _order_changed(order, fields=["amount_paid", "status", "paid_at"], event=NotificationKind.PAID)


def order_record_refund(*, order: Order, amount: int) -> Order:
    """Record ``amount`` refunded on an order the caller locked (``order_lock``) in this transaction.

    paid / fulfilled / partially_refunded -> partially_refunded, or -> refunded once everything
    paid has been refunded. More than the refundable rest is a 409 ``amount_exceeds_refundable``.
    """
    _require_atomic("order_record_refund")
    amount = amount_validate(amount, param="amount", minimum=1)
    refundable = order.amount_paid - order.amount_refunded
    to_status = OrderStatus.REFUNDED if amount == refundable else OrderStatus.PARTIALLY_REFUNDED
    _order_require_transition(order, to_status, "be refunded")
    if amount > refundable:
        raise Conflict(
            f"The refund ({amount}) exceeds what is left to refund on this order ({refundable}).",
            code="amount_exceeds_refundable",
            param="amount",
        )
    order.amount_refunded += amount
    order.status = to_status
    kind = NotificationKind.REFUNDED if to_status == OrderStatus.REFUNDED else NotificationKind.PARTIALLY_REFUNDED
    return _order_changed(order, fields=["amount_refunded", "status"], event=kind)


def order_record_dispute(*, order: Order, amount_disputed: int) -> Order:
    """Set what the processors hold back for disputes on the payments of an order the caller locked
    (``order_lock``) in this transaction: the sum of its payments' ``amount_disputed``.

    A dispute is not a state: the status stays. A change writes ``order.updated`` (merchants hear
    of it; the customer gets no e-mail: the chargeback is theirs). No change writes nothing.
    """
    _require_atomic("order_record_dispute")
    if isinstance(amount_disputed, bool) or not isinstance(amount_disputed, int) or amount_disputed < 0:
        raise ValueError(f"amount_disputed must be a non-negative integer, not {amount_disputed!r}")
    if amount_disputed > order.amount_paid:
        # A processor cannot hold back more than it charged (the ledger refuses such a dispute and
        # the disputes app flags it for an operator): the order shows at most what was paid.
        logger.warning(
            "disputed amount above the order's paid amount; shown capped",
            extra={"order": order.id, "amount_disputed": amount_disputed, "amount_paid": order.amount_paid},
        )
        amount_disputed = order.amount_paid
    if amount_disputed == order.amount_disputed:
        return order
    order.amount_disputed = amount_disputed
    return _order_changed(order, fields=["amount_disputed"], event="updated", notify=False)


# --- notifications ---------------------------------------------------------------------------


class NotificationDeliveryFailed(Exception):
    """A send failed in a way worth retrying; the task retries with back-off."""


def _notification_create(*, order: Order, kind: str) -> Notification:
    email, name = customer_contact(customer_id=order.customer_id)
    notification = Notification.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=kind,
        recipient=email,
        # An erased customer (or one without an address) gets nothing; the row says so.
        status=NotificationStatus.PENDING if email else NotificationStatus.SKIPPED,
        data={
            "order": customer_order_data(order),
            "customer_name": name,
            "merchant_name": merchant_get(merchant_id=order.merchant_id).name,
        },
    )
    if notification.status == NotificationStatus.PENDING:
        notification_id = notification.id
        # robust: a broker outage must not fail the committed change; the periodic requeue sends it later.
        transaction.on_commit(lambda: notification_enqueue(notification_id=notification_id), robust=True)
    return notification


def notification_enqueue(*, notification_id: str) -> None:
    from .tasks import notification_send as notification_send_task  # the tasks module imports this one

    notification_send_task.delay(notification_id)


def notification_retry(*, notification_id: str) -> bool:
    """An operator sends a failed notification again (a fresh round of attempts). False unless it was failed."""
    with transaction.atomic():
        updated = Notification.objects.filter(id=notification_id, status=NotificationStatus.FAILED).update(
            status=NotificationStatus.PENDING, attempts=0, updated=timezone.now()
        )
        if updated:
            transaction.on_commit(lambda: notification_enqueue(notification_id=notification_id), robust=True)
    return bool(updated)


def notifications_requeue_stale() -> int:
    """Enqueue again the notifications left pending with no live task (e.g. the process died
    between commit and enqueue, or the broker was down). Returns how many were enqueued."""
    from .selectors import notifications_stale

    ids = notifications_stale(
        older_than_seconds=settings.ORDER_NOTIFICATION_STALE_SECONDS, limit=settings.ORDER_NOTIFICATION_REQUEUE_BATCH
    )
    for notification_id in ids:
        notification_enqueue(notification_id=notification_id)
        # Touch it so the next run leaves it to the task just enqueued (sending is idempotent anyway).
        Notification.objects.filter(id=notification_id, status=NotificationStatus.PENDING).update(
            updated=timezone.now()
        )
    if ids:
        logger.info("requeued stale notifications", extra={"count": len(ids)})
    return len(ids)


def _money(amount: int, currency: str) -> str:
    return f"{to_decimal_string(amount, currency)} {currency}"


def notification_message(*, notification: Notification) -> EmailMessage:
    order = notification.data["order"]
    currency = order["currency"]
    context = {
        "kind": notification.kind,
        "order": order,
        "customer_name": notification.data.get("customer_name") or "",
        "merchant_name": notification.data.get("merchant_name") or "",
        "lines": [
            {
                **line,
                "unit_display": _money(line["unit_amount"], currency),
                "amount_display": _money(line["amount"], currency),
            }
            for line in order["lines"]
        ],
        "subtotal_display": _money(order["subtotal"], currency),
        "shipping_display": _money(order["shipping_amount"], currency),
        "tax_display": _money(order["tax_amount"], currency),
        "total_display": _money(order["total"], currency),
        "paid_display": _money(order["amount_paid"], currency),
        "refunded_display": _money(order["amount_refunded"], currency),
    }
    subject = render_to_string("orders/email/subject.txt", context).strip()
    body = render_to_string(f"orders/email/{notification.kind}.txt", context)
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "gateway.local"
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        # Stable per notification: in the rare duplicate (see notification_deliver) mail clients
        # and receiving servers can tell it is the same message.
        headers={"Message-ID": f"<{notification.id}@{domain}>"},
    )


def _permanent(exc: Exception) -> bool:
    """5xx answers (bad mailbox, message refused) will not change on retry; 4xx and network errors may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def notification_deliver(*, notification_id: str) -> str:
    """Send a pending notification at most once per successful commit; returns the outcome.

    The row stays locked (``FOR UPDATE``) while the e-mail is handed to the SMTP server, and the
    outcome is committed under that lock, so a redelivered or duplicated task either skips the
    locked row (``SKIP LOCKED``: the holder owns the outcome) or finds it ``sent`` and does nothing.
    Failures are counted and recorded (``attempts``, ``last_error``), then raised as
    ``NotificationDeliveryFailed`` for Celery's back-off; after ``ORDER_NOTIFICATION_MAX_ATTEMPTS``
    (or a permanent 5xx) the notification is ``failed``.

    Residual window: if the process dies (or the commit fails) after the SMTP server accepted
    the message and before the commit, the row is still pending and the message is sent again
    on redelivery. E-mail cannot take part in our transaction, so this at-least-once gap (of
    milliseconds) is the best possible; the stable Message-ID lets receivers spot the duplicate.
    """
    error: Exception | None = None
    with transaction.atomic():
        notification = Notification.objects.select_for_update(skip_locked=True).filter(id=notification_id).first()
        if notification is None:
            return "locked" if Notification.objects.filter(id=notification_id).exists() else "missing"
        if notification.status != NotificationStatus.PENDING:
            return notification.status
        notification.attempts += 1
        try:
            notification_message(notification=notification).send()
        except Exception as exc:  # SMTP, network, TLS, rendering: all recorded, counted and bounded
            error = exc
            notification.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if _permanent(exc) or notification.attempts >= settings.ORDER_NOTIFICATION_MAX_ATTEMPTS:
                notification.status = NotificationStatus.FAILED
        else:
            notification.status = NotificationStatus.SENT
            notification.sent_at = timezone.now()
        notification.save(update_fields=["attempts", "last_error", "status", "sent_at", "updated"])
    if error is None:
        return NotificationStatus.SENT
    if notification.status == NotificationStatus.FAILED:
        logger.warning(
            "notification failed for good",
            extra={
                "notification_id": notification_id,
                "attempts": notification.attempts,
                "error": notification.last_error,
            },
        )
        return NotificationStatus.FAILED
    raise NotificationDeliveryFailed(notification.last_error) from error
