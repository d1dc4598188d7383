"""Reads of the payments app, for its views and for other apps."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from gateway.errors import not_found

from .cache import PAYMENT_CACHE
from .models import (
    ORDER_BLOCKING_STATUSES,
    UNRESOLVED_ATTEMPT_STATUSES,
    AttemptOperation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStatus,
    ProcessorState,
    Refund,
    RefundStatus,
)
from .serializers import payment_data


def payment_get(*, merchant_id: str, payment_id: str, livemode: bool = False, param: str | None = "id") -> Payment:
    """The merchant's payment in this mode; another merchant's (or the other mode's) is a 404
    naming ``param`` (the parameter that carried the id)."""
    payment = Payment.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=payment_id).first()
    if payment is None:
        raise not_found("payment", payment_id, param=param)
    return payment


def payment_data_cached(*, merchant_id: str, payment_id: str, livemode: bool = False) -> dict[str, Any]:
    """The representation of GET /v1/payments/{id}, from Redis when possible."""
    return PAYMENT_CACHE.read(
        object_id=payment_id,
        merchant_id=merchant_id,
        livemode=livemode,
        load=lambda: payment_data(payment_get(merchant_id=merchant_id, payment_id=payment_id, livemode=livemode)),
    )


def payment_list(
    *,
    merchant_id: str,
    livemode: bool = False,
    status: str | None = None,
    customer_id: str | None = None,
    order_id: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
    metadata: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> QuerySet[Payment]:
    """The merchant's payments in this mode, newest first. ``metadata``: every pair must be in the
    payment's metadata (jsonb containment, GIN-indexed on PostgreSQL); ``idempotency_key``: the
    payment created by the request with that key (so a client that lost the answer finds it)."""
    queryset = Payment.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if metadata and connection.vendor == "postgresql":
        queryset = queryset.filter(metadata__contains=metadata)  # jsonb @>, the GIN index
    elif metadata:  # the embedded SQLite mode has no JSON containment: one key at a time
        for index, (key, value) in enumerate(metadata.items()):
            text = Cast(KeyTextTransform(key, "metadata"), output_field=TextField())
            queryset = queryset.alias(**{f"metadata_{index}": text}).filter(**{f"metadata_{index}": value})
    if idempotency_key is not None:
        queryset = queryset.filter(idempotency_key=idempotency_key)
    if status is not None:
        queryset = queryset.filter(status=status)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    if order_id is not None:
        queryset = queryset.filter(order_id=order_id)
    if created_gte is not None:
        queryset = queryset.filter(created__gte=created_gte)
    if created_lte is not None:
        queryset = queryset.filter(created__lte=created_lte)
    return queryset


def customer_payment_list(
    *, merchant_id: str, customer_id: str, livemode: bool = False, status: str | None = None
) -> QuerySet[Payment]:
    return payment_list(merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, status=status)


def order_has_active_payment(*, order_id: str) -> bool:
    """Whether a payment for this order is in flight or holds an authorization (the orders app
    should not cancel such an order)."""
    return Payment.objects.filter(order_id=order_id, status__in=ORDER_BLOCKING_STATUSES).exists()


def refund_get(*, merchant_id: str, refund_id: str, livemode: bool = False) -> Refund:
    refund = Refund.objects.filter(merchant_id=merchant_id, livemode=livemode, pk=refund_id).first()
    if refund is None:
        raise not_found("refund", refund_id)
    return refund


def refund_list(*, merchant_id: str, livemode: bool = False, payment_id: str | None = None) -> QuerySet[Refund]:
    queryset = Refund.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if payment_id is not None:
        queryset = queryset.filter(payment_id=payment_id)
    return queryset


def customer_payment_methods(*, merchant_id: str, customer_id: str, livemode: bool = False) -> QuerySet[PaymentMethod]:
    return PaymentMethod.objects.filter(
        merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, detached_at__isnull=True
    )


def customer_payment_method_get(
    *, merchant_id: str, customer_id: str, payment_method_id: str, livemode: bool = False
) -> PaymentMethod:
    method = (
        customer_payment_methods(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
        .filter(pk=payment_method_id)
        .first()
    )
    if method is None:
        raise not_found("payment_method", payment_method_id)
    return method


def _sync_not_queued(now: datetime, prefix: str = "payment__") -> Q:
    """The payment has no sync queued by the beat that is still fresh (``sync_enqueued_at``)."""
    stale_before = now - timedelta(seconds=settings.PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS)
    return Q(**{f"{prefix}sync_enqueued_at__isnull": True}) | Q(**{f"{prefix}sync_enqueued_at__lt": stale_before})


def payments_due_for_sync(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of payments with an unresolved attempt or refund whose next status query is due and no
    sync queued already (flagged ones are left to an operator)."""
    now = now or timezone.now()
    attempt_payments = (
        PaymentAttempt.objects.filter(
            _sync_not_queued(now),
            status__in=UNRESOLVED_ATTEMPT_STATUSES,
            next_sync_at__lte=now,
            flagged_at__isnull=True,
        )
        .order_by("next_sync_at")
        .values_list("payment_id", flat=True)[:limit]
    )
    refund_payments = (
        Refund.objects.filter(
            _sync_not_queued(now), status=RefundStatus.PENDING, next_sync_at__lte=now, flagged_at__isnull=True
        )
        .exclude(processor_state=ProcessorState.RESOLVED)
        .order_by("next_sync_at")
        .values_list("payment_id", flat=True)[:limit]
    )
    return list(dict.fromkeys([*attempt_payments, *refund_payments]))[:limit]


def payments_requires_action_due(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of payments still waiting for the customer whose next poll of the processor is due
    (the customer may have finished 3-D Secure / PayPal without the browser coming back)."""
    now = now or timezone.now()
    return list(
        dict.fromkeys(
            PaymentAttempt.objects.filter(
                _sync_not_queued(now),
                status=AttemptStatus.REQUIRES_ACTION,
                payment__status=PaymentStatus.REQUIRES_ACTION,
                next_sync_at__lte=now,
            )
            .order_by("next_sync_at")
            .values_list("payment_id", flat=True)[:limit]
        )
    )


def payments_flagged() -> QuerySet[Payment]:
    """Payments an operator must look at: an operation unresolved after the last status query,
    or money the order could not take."""
    flagged_ids = PaymentAttempt.objects.filter(flagged_at__isnull=False).values("payment_id")
    flagged_refunds = Refund.objects.filter(flagged_at__isnull=False).values("payment_id")
    return (
        Payment.objects.filter(pk__in=flagged_ids)
        | Payment.objects.filter(pk__in=flagged_refunds)
        | (Payment.objects.exclude(review_reason=""))
    )


def payment_for_dispute(*, merchant_id: str, processor_account_id: str, references: tuple[str, ...]) -> str | None:
    """The payment whose charge a processor's dispute names: by the processor's id of the charge
    (PaymentIntent, charge, PayPal capture) or by our own attempt id (PayPal ``custom``)."""
    references = tuple(r for r in references if r)
    if not references:
        return None
    by_payment = Payment.objects.filter(
        merchant_id=merchant_id, processor_account_id=processor_account_id, processor_reference__in=references
    )
    found = by_payment.values_list("id", flat=True).first()
    if found:
        return found
    attempts = PaymentAttempt.objects.filter(merchant_id=merchant_id, processor_account_id=processor_account_id)
    return (
        attempts.filter(Q(processor_reference__in=references) | Q(pk__in=references))
        .values_list("payment_id", flat=True)
        .first()
    )


# --- For reconciliation with the processors (the ``reconciliation`` app reads payments only here) ---


@dataclass(frozen=True)
class SettledCharge:
    """Our view of one payment at one processor account, to hold against the processor's record."""

    payment_id: str
    currency: str
    amount_received: int  # what we booked as captured
    status: str
    created: datetime  # when it was captured (its capture attempt's time, else its creation)
    # Every id the processor may know this payment's charge by: the payment's and its attempts'
    # processor references, and our attempt ids (sent as its idempotency key / metadata / custom_id).
    processor_references: frozenset[str]
    gateway_references: frozenset[str]
    unresolved: bool  # an attempt is still started/unknown/pending: an outcome we have not learnt


@dataclass(frozen=True)
class SettledRefund:
    refund_id: str
    payment_id: str
    processor_reference: str
    amount: int
    currency: str
    status: str
    created: datetime


def reconciliation_charges(
    *,
    merchant_id: str,
    livemode: bool,
    processor_account_id: str,
    processor_references: Iterable[str] = (),
    gateway_references: Iterable[str] = (),
    captured_since: datetime | None = None,
    captured_until: datetime | None = None,
) -> list[SettledCharge]:
    """The merchant's payments at this account that a settlement names (by the processor's id or
    ours), plus those captured in [captured_since, captured_until) that received money.

    A payment is captured when its succeeded capture attempt was made (a manual capture, days after
    the authorization), else when it was created (captured at once): the day the processor books
    the charge, so a late capture is not missing from its authorization's day."""
    refs, ours = [r for r in processor_references if r], [r for r in gateway_references if r]
    attempts = PaymentAttempt.objects.filter(merchant_id=merchant_id, processor_account_id=processor_account_id)
    named = attempts.filter(Q(processor_reference__in=refs) | Q(pk__in=ours)).values("payment_id")
    match = Q(processor_account_id=processor_account_id, processor_reference__in=refs) | Q(pk__in=named)
    if captured_since is not None and captured_until is not None:
        match |= Q(
            processor_account_id=processor_account_id,
            amount_received__gt=0,
            captured_at__gte=captured_since,
            captured_at__lt=captured_until,
        )
    capture_attempts = PaymentAttempt.objects.filter(
        payment_id=OuterRef("pk"), operation=AttemptOperation.CAPTURE, status=AttemptStatus.SUCCEEDED
    ).order_by("-created")
    payments = list(
        Payment.objects.filter(merchant_id=merchant_id, livemode=livemode)
        .annotate(captured_at=Coalesce(Subquery(capture_attempts.values("created")[:1]), "created"))
        .filter(match)
        .order_by("id")
    )
    by_payment: dict[str, list[tuple[str, str, str]]] = {}
    for row in attempts.filter(payment_id__in=[p.id for p in payments]).values_list(
        "payment_id", "id", "processor_reference", "status"
    ):
        by_payment.setdefault(row[0], []).append(row[1:])
    return [
        SettledCharge(
            payment_id=p.id,
            currency=p.currency,
            amount_received=p.amount_received,
            status=p.status,
            created=p.captured_at,
            processor_references=frozenset({p.processor_reference} | {ref for _, ref, _ in by_payment.get(p.id, [])})
            - {""},
            gateway_references=frozenset(att_id for att_id, _, _ in by_payment.get(p.id, [])),
            unresolved=any(status in UNRESOLVED_ATTEMPT_STATUSES for _, _, status in by_payment.get(p.id, [])),
        )
        for p in payments
    ]


def reconciliation_refunds(
    *,
    merchant_id: str,
    livemode: bool,
    processor_account_id: str,
    processor_references: Iterable[str] = (),
    gateway_references: Iterable[str] = (),
    succeeded_since: datetime | None = None,
    succeeded_until: datetime | None = None,
) -> list[SettledRefund]:
    """The merchant's refunds at this account that a settlement names (by the processor's refund id
    or ours), plus the succeeded ones created in [succeeded_since, succeeded_until)."""
    refs, ours = [r for r in processor_references if r], [r for r in gateway_references if r]
    match = Q(processor_reference__in=refs) | Q(pk__in=ours)
    if succeeded_since is not None and succeeded_until is not None:
        match |= Q(status=RefundStatus.SUCCEEDED, created__gte=succeeded_since, created__lt=succeeded_until)
    refunds = Refund.objects.filter(
        merchant_id=merchant_id, livemode=livemode, processor_account_id=processor_account_id
    ).filter(match)
    return [
        SettledRefund(
            refund_id=r.id,
            payment_id=r.payment_id,
            processor_reference=r.processor_reference,
            amount=r.amount,
            currency=r.currency,
            status=r.status,
            created=r.created,
        )
        for r in refunds.order_by("id")
    ]
