"""Settings owned by the customers app (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Customer session tokens (cst_...): lifetime, and how long a resolved token may be served from the
# cache (logout, password change and erasure delete the cached entry at once).
CUSTOMER_SESSION_TTL_SECONDS = env_int("CUSTOMER_SESSION_TTL_SECONDS", 24 * 60 * 60)
CUSTOMER_SESSION_CACHE_SECONDS = env_int("CUSTOMER_SESSION_CACHE_SECONDS", 60)

# Brute-force protection on POST /v1/auth/login: sliding windows (gateway.ratelimit.window_take),
# rates "<count>/<period>" (30/m, 5/10m, 100/h).
CUSTOMER_LOGIN_RATE_PER_IP = env("CUSTOMER_LOGIN_RATE_PER_IP", "30/m")
CUSTOMER_LOGIN_RATE_PER_EMAIL = env("CUSTOMER_LOGIN_RATE_PER_EMAIL", "5/m")
# PCI DSS 8.3.4: lock after at most 10 failures, for at least 30 minutes.
CUSTOMER_LOCKOUT_THRESHOLD = env_int("CUSTOMER_LOCKOUT_THRESHOLD", 10)
CUSTOMER_LOCKOUT_SECONDS = env_int("CUSTOMER_LOCKOUT_SECONDS", 30 * 60)

# When Redis is down, allow logins (the lockout in PostgreSQL still applies); 0 refuses them instead.
RATELIMIT_FAIL_OPEN = env_bool("RATELIMIT_FAIL_OPEN", True)

BEAT_SCHEDULE_CUSTOMERS = {
    "customer-sessions-purge": {"task": "customers.tasks.customer_sessions_purge", "schedule": 3600.0},
}
