"""The sandbox's one periodic task: deliver the disputes it opened, as a processor's webhook would."""

from celery import shared_task

from .disputes import sandbox_disputes_deliver as deliver


@shared_task(name="sandbox.tasks.sandbox_disputes_deliver")
def sandbox_disputes_deliver() -> int:
    return deliver()
