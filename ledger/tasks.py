import logging

from celery import shared_task

from .selectors import ledger_problems

logger = logging.getLogger("ledger.verify")


@shared_task(name="ledger.tasks.ledger_verify")
def ledger_verify() -> int:
    """Periodic ``ledger_verify``: logs every problem at ERROR so alerting on the log catches it."""
    problems = ledger_problems()
    for problem in problems:
        logger.error(
            "ledger problem %s %s: %s",
            problem.code,
            problem.subject,
            problem.detail,
            extra={"ledger_problem": problem.code, "subject": problem.subject},
        )
    return len(problems)
