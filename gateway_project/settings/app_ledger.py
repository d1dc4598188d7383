"""Settings owned by the ledger module (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# How often Celery beat runs the ledger verification (every entry balanced, trial balance zero,
# no payment over-refunded) and logs problems at ERROR. 0 disables it. It reads the whole ledger.
LEDGER_VERIFY_INTERVAL_SECONDS = env_int("LEDGER_VERIFY_INTERVAL_SECONDS", 24 * 3600)

BEAT_SCHEDULE_LEDGER = (
    {"ledger-verify": {"task": "ledger.tasks.ledger_verify", "schedule": float(LEDGER_VERIFY_INTERVAL_SECONDS)}}
    if LEDGER_VERIFY_INTERVAL_SECONDS > 0
    else {}
)
