"""Settings owned by the payments app (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Origin of the gateway as the customer's browser sees it: the processor sends the browser back to
# {PAYMENTS_PUBLIC_BASE_URL}/v1/payments/{id}/return after 3-D Secure or PayPal approval.
PAYMENTS_PUBLIC_BASE_URL = env("PAYMENTS_PUBLIC_BASE_URL", env("SANDBOX_BASE_URL", "http://127.0.0.1:8000"))

# Status sync of operations whose outcome is unknown (timeout, lost reply), after Kill Bill's janitor:
# the n-th query waits the n-th delay (seconds) after the previous one; after the last, an operator is flagged.
PAYMENTS_SYNC_SCHEDULE_SECONDS = [
    int(v) for v in env_list("PAYMENTS_SYNC_SCHEDULE_SECONDS", "300,3600,86400,86400,86400,86400,86400")
]
# Operations the processor accepted as pending (final outcome later, by status query or webhook).
PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS = [
    int(v) for v in env_list("PAYMENTS_PENDING_SYNC_SCHEDULE_SECONDS", "3600,86400")
]
# A processor call still marked in flight after this long lost its process (crash between the
# phases); the janitor then resolves it by asking the processor. Must exceed every connector timeout.
PAYMENTS_INFLIGHT_TIMEOUT_SECONDS = env_int("PAYMENTS_INFLIGHT_TIMEOUT_SECONDS", 300)
# A status query's "not found" is trusted only for operations at least this old (some processors'
# search lags behind their writes); sooner, the answer counts as inconclusive and is asked again.
# A search-based not-found (Stripe) is moreover trusted only from the janitor's scheduled syncs.
PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS = env_int("PAYMENTS_NOT_FOUND_MIN_AGE_SECONDS", 300)
# A payment waiting for the customer (3-D Secure, PayPal approval) whose browser never comes back:
# the janitor asks the processor after this long (then after 2x, 4x, ...), and finishes the payment
# if the customer did act; it stops asking after PAYMENTS_REQUIRES_ACTION_POLL_MAX polls.
PAYMENTS_REQUIRES_ACTION_POLL_SECONDS = env_int("PAYMENTS_REQUIRES_ACTION_POLL_SECONDS", 900)
PAYMENTS_REQUIRES_ACTION_POLL_MAX = env_int("PAYMENTS_REQUIRES_ACTION_POLL_MAX", 8)
# How often the periodic task looks for due status syncs, and how many it enqueues per run.
PAYMENTS_SYNC_INTERVAL_SECONDS = env_float("PAYMENTS_SYNC_INTERVAL_SECONDS", 60.0)
PAYMENTS_SYNC_BATCH = env_int("PAYMENTS_SYNC_BATCH", 500)
# A sync the beat queued for a payment that has not started after this long is presumed lost (broker
# restarted, message dropped) and queued again; until then the beat queues no second one.
PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS = env_int("PAYMENTS_SYNC_ENQUEUED_STALE_SECONDS", 600)
# Declines after which a payment stops accepting new payment methods (status ``failed``).
PAYMENTS_MAX_DECLINES = env_int("PAYMENTS_MAX_DECLINES", 10)
# Lifetime of cached GET /v1/payments/{id} representations (invalidated on every change anyway).
PAYMENTS_CACHE_SECONDS = env_int("PAYMENTS_CACHE_SECONDS", 300)

# Browser-tokenized cards (POST /v1/payment_methods): usable once within this many seconds unless
# attached to a customer; that endpoint's own token bucket per key and per client IP.
PAYMENT_METHOD_SINGLE_USE_SECONDS = env_int("PAYMENT_METHOD_SINGLE_USE_SECONDS", 30 * 60)
PAYMENT_METHODS_RATE_PER_SECOND = env_float("PAYMENT_METHODS_RATE_PER_SECOND", 1.0)
PAYMENT_METHODS_RATE_BURST = env_int("PAYMENT_METHODS_RATE_BURST", 20)

BEAT_SCHEDULE_PAYMENTS = {
    "payments-sync-due": {"task": "payments.tasks.payments_sync_due", "schedule": PAYMENTS_SYNC_INTERVAL_SECONDS},
    "payment-methods-expired-purge": {"task": "payments.tasks.payment_methods_expired_purge", "schedule": 3600.0},
}
