"""Reads of orders, for this app's views and for other apps (payments). Every lookup is scoped to
one merchant and one mode: another merchant's order, or one of the other mode, is a 404."""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from gateway.errors import not_found

from .cache import order_cache_read
from .models import Notification, Order, OrderLine
from .serializers import order_data


def _with_lines(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("position")))


def order_get(*, merchant_id: str, order_id: str, livemode: bool = False) -> Order:
    """The merchant's order of this mode with its lines; another merchant's or mode's order is a 404."""
    order = _with_lines(Order.objects.filter(merchant_id=merchant_id, livemode=livemode, id=order_id)).first()
    if order is None:
        raise not_found("order", order_id)
    return order


def order_outstanding(*, order: Order) -> int:
    """Amount the customer still has to pay: ``total - amount_paid`` (0 once paid or canceled).

    Refunds do not make an order owed again, so ``amount_refunded`` does not enter it.
    """
    return order.amount_outstanding


def order_data_cached(*, merchant_id: str, order_id: str, livemode: bool = False) -> dict[str, Any]:
    """The API representation of GET /v1/orders/{id}, from Redis when possible."""
    return order_cache_read(
        merchant_id=merchant_id,
        livemode=livemode,
        order_id=order_id,
        load=lambda: order_data(order_get(merchant_id=merchant_id, order_id=order_id, livemode=livemode)),
    )


def order_list(
    *,
    merchant_id: str,
    livemode: bool = False,
    status: str | None = None,
    customer_id: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
) -> QuerySet[Order]:
    queryset = Order.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if status is not None:
        queryset = queryset.filter(status=status)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    if created_gte is not None:
        queryset = queryset.filter(created__gte=created_gte)
    if created_lte is not None:
        queryset = queryset.filter(created__lte=created_lte)
    return _with_lines(queryset)


def customer_order_get(*, merchant_id: str, customer_id: str, order_id: str, livemode: bool = False) -> Order:
    """A customer's own order of this mode; anyone else's (same merchant or not) is a 404."""
    order = _with_lines(
        Order.objects.filter(merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, id=order_id)
    ).first()
    if order is None:
        raise not_found("order", order_id)
    return order


def customer_order_list(
    *, merchant_id: str, customer_id: str, livemode: bool = False, status: str | None = None
) -> QuerySet[Order]:
    return order_list(merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, status=status)


def notifications_stale(*, older_than_seconds: int, limit: int) -> list[str]:
    """Ids of notifications still pending and untouched for a while: no task is alive for them."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Notification.objects.filter(status=Notification.Status.PENDING, updated__lt=cutoff)
        .order_by("updated")
        .values_list("id", flat=True)[:limit]
    )
