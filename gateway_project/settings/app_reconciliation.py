"""Settings owned by the reconciliation app (all from the environment; see the README's configuration table)."""

from celery.schedules import crontab

from .env import env_int

# The daily reconciliation of the previous UTC day, per active processor account and per merchant
# on the sandbox, at this hour (UTC). -1 disables it.
RECONCILIATION_DAILY_HOUR_UTC = env_int("RECONCILIATION_DAILY_HOUR_UTC", 3)

BEAT_SCHEDULE_RECONCILIATION = (
    {
        "reconciliation-daily": {
            "task": "reconciliation.tasks.reconcile_yesterday",
            "schedule": crontab(minute=15, hour=RECONCILIATION_DAILY_HOUR_UTC),
        }
    }
    if RECONCILIATION_DAILY_HOUR_UTC >= 0
    else {}
)
