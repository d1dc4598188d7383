"""Answers for retries of idempotent requests that are no longer running (``gateway.idempotency``
recovery points): the payment or refund the request created or changed, brought up to date with
its processor first. Asking never charges: unresolved operations are resolved by status query
(``payment_sync_from(source="recovery")``), calls presumed in flight included, since the process
that made them is gone. Registered by ``PaymentsConfig.ready``."""

import logging
from typing import Any

from ..models import UNRESOLVED_ATTEMPT_STATUSES, Payment, PaymentAttempt, PaymentStatus, RefundStatus
from ..selectors import payment_get, refund_get
from ..serializers import payment_data, refund_data
from .sync import payment_sync_from

logger = logging.getLogger("payments")


def _resolved(payment: Payment) -> Payment:
    try:
        return payment_sync_from(payment_id=payment.id, source="recovery", scheduled=False)
    except Exception:
        # The answer is the payment's state as it stands; the janitor keeps resolving it.
        logger.exception("resolving a recovered payment failed", extra={"payment_id": payment.id})
        return Payment.objects.get(pk=payment.id)


def payment_recover(*, merchant_id: str, livemode: bool, object_id: str) -> tuple[dict[str, Any], bool]:
    """(the payment's representation, settled): settled once nothing about it is in flight, so
    the answer may be stored for later retries; until then each retry reads it again."""
    payment = _resolved(payment_get(merchant_id=merchant_id, payment_id=object_id, livemode=livemode))
    in_flight = (
        payment.status == PaymentStatus.PROCESSING
        or PaymentAttempt.objects.filter(payment_id=payment.id, status__in=UNRESOLVED_ATTEMPT_STATUSES).exists()
    )
    return payment_data(payment), not in_flight


def refund_recover(*, merchant_id: str, livemode: bool, object_id: str) -> tuple[dict[str, Any], bool]:
    refund = refund_get(merchant_id=merchant_id, refund_id=object_id, livemode=livemode)
    if refund.status == RefundStatus.PENDING:
        _resolved(refund.payment)
        refund = refund_get(merchant_id=merchant_id, refund_id=object_id, livemode=livemode)
    return refund_data(refund), refund.status != RefundStatus.PENDING
