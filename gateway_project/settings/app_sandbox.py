"""Settings owned by the sandbox app (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Absolute base of the gateway as the customer's browser sees it: 3-D Secure and PayPal approval
# pages of the sandbox are linked from next_action.redirect_url under this origin.
SANDBOX_BASE_URL = env("SANDBOX_BASE_URL", "http://127.0.0.1:8000")
# Upper bound for injected latency (merchant settings "sandbox.latency_ms"), so a typo cannot hang a worker.
SANDBOX_MAX_LATENCY_MS = env_int("SANDBOX_MAX_LATENCY_MS", 10_000)
# The disputed test card (4000 0000 0000 0259): the dispute opens this long after the capture
# (a processor's dispute comes later too) and carries this fee in minor units (Stripe's is 15.00 USD).
SANDBOX_DISPUTE_DELAY_SECONDS = env_int("SANDBOX_DISPUTE_DELAY_SECONDS", 5)
SANDBOX_DISPUTE_FEE = env_int("SANDBOX_DISPUTE_FEE", 1500)
SANDBOX_DISPUTES_DELIVER_INTERVAL_SECONDS = env_float("SANDBOX_DISPUTES_DELIVER_INTERVAL_SECONDS", 5.0)
BEAT_SCHEDULE_SANDBOX = {
    "sandbox-disputes-deliver": {
        "task": "sandbox.tasks.sandbox_disputes_deliver",
        "schedule": SANDBOX_DISPUTES_DELIVER_INTERVAL_SECONDS,
    },
}
