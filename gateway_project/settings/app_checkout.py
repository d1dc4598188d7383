"""Settings owned by the checkout app (all from the environment; see the README's configuration table)."""

from .env import env, env_float, env_int, env_list

# Origin of the hosted page as the customer's browser sees it: session urls are {this}/pay/cs_...
CHECKOUT_PUBLIC_BASE_URL = env("CHECKOUT_PUBLIC_BASE_URL", env("PAYMENTS_PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
# expires_at bounds (seconds from creation): 30 minutes .. 24 hours, default the maximum.
CHECKOUT_SESSION_MIN_SECONDS = env_int("CHECKOUT_SESSION_MIN_SECONDS", 30 * 60)
CHECKOUT_SESSION_MAX_SECONDS = env_int("CHECKOUT_SESSION_MAX_SECONDS", 24 * 3600)
# The hosted page's token buckets, per client IP and per session (pages, submits, status polls).
CHECKOUT_RATE_PER_SECOND = env_float("CHECKOUT_RATE_PER_SECOND", 5.0)
CHECKOUT_RATE_BURST = env_int("CHECKOUT_RATE_BURST", 40)
# Payment submissions per session: card testing is stopped here, not by the card networks.
CHECKOUT_SUBMIT_RATE_PER_SECOND = env_float("CHECKOUT_SUBMIT_RATE_PER_SECOND", 0.2)
CHECKOUT_SUBMIT_BURST = env_int("CHECKOUT_SUBMIT_BURST", 10)
# Where a submitted form may be redirected besides the gateway itself and the session's own
# success/cancel URLs: the processors' customer pages (3-D Secure, PayPal approval). CSP form-action.
CHECKOUT_REDIRECT_ORIGINS = env_list(
    "CHECKOUT_REDIRECT_ORIGINS", "https://www.paypal.com,https://www.sandbox.paypal.com,https://hooks.stripe.com"
)
# How often the page polls the status endpoint while a payment is processing (also the no-JS refresh).
CHECKOUT_POLL_SECONDS = env_int("CHECKOUT_POLL_SECONDS", 2)
CHECKOUT_SWEEP_INTERVAL_SECONDS = env_float("CHECKOUT_SWEEP_INTERVAL_SECONDS", 60.0)
CHECKOUT_SWEEP_BATCH = env_int("CHECKOUT_SWEEP_BATCH", 500)

BEAT_SCHEDULE_CHECKOUT = {
    "checkout-sessions-sweep": {
        "task": "checkout.tasks.checkout_sessions_sweep",
        "schedule": CHECKOUT_SWEEP_INTERVAL_SECONDS,
    },
}
