"""Settings owned by the orders app (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Customer notification e-mails: bounded attempts with exponential back-off and full jitter
# (the n-th retry waits a random 0..min(MAX, BASE * 2**n) seconds).
ORDER_NOTIFICATION_MAX_ATTEMPTS = env_int("ORDER_NOTIFICATION_MAX_ATTEMPTS", 8)
ORDER_NOTIFICATION_RETRY_BASE_SECONDS = env_int("ORDER_NOTIFICATION_RETRY_BASE_SECONDS", 30)
ORDER_NOTIFICATION_RETRY_MAX_SECONDS = env_int("ORDER_NOTIFICATION_RETRY_MAX_SECONDS", 1800)
# A pending notification untouched for this long has no live task (it must exceed the longest
# back-off), so the periodic requeue sends it again.
ORDER_NOTIFICATION_STALE_SECONDS = env_int("ORDER_NOTIFICATION_STALE_SECONDS", 2400)
ORDER_NOTIFICATION_REQUEUE_INTERVAL_SECONDS = env_int("ORDER_NOTIFICATION_REQUEUE_INTERVAL_SECONDS", 300)
ORDER_NOTIFICATION_REQUEUE_BATCH = env_int("ORDER_NOTIFICATION_REQUEUE_BATCH", 500)

BEAT_SCHEDULE_ORDERS = {
    "orders-notifications-requeue-stale": {
        "task": "orders.tasks.notifications_requeue_stale",
        "schedule": float(ORDER_NOTIFICATION_REQUEUE_INTERVAL_SECONDS),
    },
}
