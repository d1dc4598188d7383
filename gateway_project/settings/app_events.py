"""Settings owned by the events app (all from the environment; see the README's configuration table)."""

import os

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Webhook URLs to loopback/private hosts and plain http are only for the embedded mode and the tests.
_RELAXED = (env("DATABASE_URL") is None and env("REDIS_URL") is None) or os.environ.get(
    "DJANGO_SETTINGS_MODULE", ""
).endswith(".settings.test")

WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", _RELAXED)
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", _RELAXED)
# Total time budget of one delivery attempt (connect + send + read of the first 2 KB).
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Retry n (1-based) waits base * 2**(n-1) seconds (capped, +/- jitter); see docs/webhooks.md.
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 60.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 12 * 3600.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 16)
WEBHOOK_RETRY_JITTER = env_float("WEBHOOK_RETRY_JITTER", 0.2)
# Retries further away than this are left to the periodic sweep instead of a broker ETA message.
WEBHOOK_ETA_MAX_SECONDS = env_float("WEBHOOK_ETA_MAX_SECONDS", 300.0)
# A due delivery whose task has not run this long after its time is considered lost and re-enqueued.
WEBHOOK_STUCK_AFTER_SECONDS = env_float("WEBHOOK_STUCK_AFTER_SECONDS", 60.0)
WEBHOOK_SWEEP_INTERVAL_SECONDS = env_float("WEBHOOK_SWEEP_INTERVAL_SECONDS", 30.0)
WEBHOOK_SWEEP_BATCH = env_int("WEBHOOK_SWEEP_BATCH", 500)
WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS", 24 * 3600)
WEBHOOK_RESPONSE_BODY_MAX_BYTES = env_int("WEBHOOK_RESPONSE_BODY_MAX_BYTES", 2048)
WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT = env_int("WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT", 16)

BEAT_SCHEDULE_EVENTS = {
    "events-deliveries-sweep": {
        "task": "events.tasks.deliveries_sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL_SECONDS,
    },
}
