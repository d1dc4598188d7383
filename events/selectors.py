"""Reads of the events app. Every lookup is scoped to the merchant and mode of the caller."""

from datetime import UTC, datetime

from django.db.models import QuerySet

from gateway.errors import not_found

from .models import Delivery, Event, WebhookEndpoint


def event_list(
    *,
    merchant_id: str,
    livemode: bool,
    type: str | None = None,
    created_gte: int | None = None,
    created_lte: int | None = None,
    created_gt: int | None = None,
    created_lt: int | None = None,
) -> QuerySet[Event]:
    """Events of one merchant and mode; ``created_*`` are unix seconds."""
    queryset = Event.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if type:
        queryset = queryset.filter(type=type)
    bounds = {"gte": created_gte, "lte": created_lte, "gt": created_gt, "lt": created_lt}
    for op, value in bounds.items():
        if value is None:
            continue
        moment = datetime.fromtimestamp(value, tz=UTC)
        if op == "lte":
            # created is stored with sub-second precision; "<= t" means up to the end of second t.
            queryset = queryset.filter(created__lt=datetime.fromtimestamp(value + 1, tz=UTC))
        elif op == "gt":
            queryset = queryset.filter(created__gte=datetime.fromtimestamp(value + 1, tz=UTC))
        else:
            queryset = queryset.filter(**{f"created__{op}": moment})
    return queryset


def event_get(*, merchant_id: str, livemode: bool, event_id: str) -> Event:
    event = Event.objects.filter(id=event_id, merchant_id=merchant_id, livemode=livemode).first()
    if event is None:
        raise not_found("event", event_id)
    return event


def webhook_endpoint_list(*, merchant_id: str, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant_id=merchant_id, livemode=livemode, deleted_at__isnull=True)


def webhook_endpoint_get(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_list(merchant_id=merchant_id, livemode=livemode).filter(id=endpoint_id).first()
    if endpoint is None:
        raise not_found("webhook_endpoint", endpoint_id)
    return endpoint


def deliveries_for_event(*, merchant_id: str, event_id: str) -> QuerySet[Delivery]:
    return Delivery.objects.filter(merchant_id=merchant_id, event_id=event_id).prefetch_related("attempts")
