from typing import Any

from django.db import transaction

from gateway.context import current_idempotency_key, current_request_id

from .models import Event


def event_record(*, merchant_id: str, type: str, data: dict[str, Any], livemode: bool = False) -> Event:
    """Write an event row. Must run inside the transaction that makes the change."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must be called inside the transaction of the change it records")
    return Event.objects.create(
        merchant_id=merchant_id,
        type=type,
        data={"object": data},
        livemode=livemode,
        request_id=current_request_id(),
        idempotency_key=current_idempotency_key(),
    )
