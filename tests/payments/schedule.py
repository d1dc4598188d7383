"""The janitor's schedule runs on the clock (``payments.services.attempts.sync_schedule``): tests
move the clock by moving the rows' timestamps back, never by sleeping."""

from datetime import timedelta

from django.db.models import F

from payments.models import UNRESOLVED_ATTEMPT_STATUSES, Payment, PaymentAttempt, Refund, RefundStatus

STEP_SECONDS = 60


def schedule_fast(settings) -> None:
    """Three status queries one step apart for an unknown outcome, two for a pending one."""
    settings.PAYMENTS_SYNC_SCHEDULE_SECONDS = [STEP_SECONDS] * 3
    settings.PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS = [STEP_SECONDS] * 2


def clock_advance(seconds: int = STEP_SECONDS) -> None:
    """As if ``seconds`` had passed for every open operation (and every queued sync)."""
    back = timedelta(seconds=seconds)
    for rows in (
        PaymentAttempt.objects.filter(status__in=UNRESOLVED_ATTEMPT_STATUSES),
        Refund.objects.filter(status=RefundStatus.PENDING),
    ):
        rows.update(created=F("created") - back)
        rows.filter(next_sync_at__isnull=False).update(next_sync_at=F("next_sync_at") - back)
        rows.filter(pending_since__isnull=False).update(pending_since=F("pending_since") - back)
    Payment.objects.filter(sync_enqueued_at__isnull=False).update(sync_enqueued_at=F("sync_enqueued_at") - back)


def clock_advance_to_due() -> None:
    """As if time had passed until the next status query of every open operation is due."""
    from django.db.models import Max
    from django.utils import timezone

    latest = [
        rows.filter(next_sync_at__isnull=False).aggregate(latest=Max("next_sync_at"))["latest"]
        for rows in (
            PaymentAttempt.objects.filter(status__in=UNRESOLVED_ATTEMPT_STATUSES),
            Refund.objects.filter(status=RefundStatus.PENDING),
        )
    ]
    due = max([t for t in latest if t is not None], default=None)
    if due is not None and due > timezone.now():
        clock_advance(int((due - timezone.now()).total_seconds()) + 1)
