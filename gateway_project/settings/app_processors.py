"""Settings owned by the processors app (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401

# Timeouts for calls to outside processors (a processor account may override both).
PROCESSOR_CONNECT_TIMEOUT = env_float("PROCESSOR_CONNECT_TIMEOUT", 3.0)
PROCESSOR_READ_TIMEOUT = env_float("PROCESSOR_READ_TIMEOUT", 30.0)

# Circuit breaker per processor account (state in Redis, shared by every process).
PROCESSOR_BREAKER_ENABLED = env_bool("PROCESSOR_BREAKER_ENABLED", True)
PROCESSOR_BREAKER_FAIL_MAX = env_int("PROCESSOR_BREAKER_FAIL_MAX", 5)
PROCESSOR_BREAKER_RESET_TIMEOUT = env_float("PROCESSOR_BREAKER_RESET_TIMEOUT", 30.0)

# Processor API versions and public endpoints (a processor account's base_url overrides the URL).
STRIPE_API_VERSION = env("STRIPE_API_VERSION", "2024-06-20")
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com")
# Seconds a Stripe-Signature timestamp may be old (Stripe's libraries use 300).
STRIPE_WEBHOOK_TOLERANCE = env_int("STRIPE_WEBHOOK_TOLERANCE", 300)
PAYPAL_API_BASE_SANDBOX = env("PAYPAL_API_BASE_SANDBOX", "https://api-m.sandbox.paypal.com")
PAYPAL_API_BASE_LIVE = env("PAYPAL_API_BASE_LIVE", "https://api-m.paypal.com")
# Refresh a cached PayPal access token this many seconds before it expires.
PAYPAL_TOKEN_REFRESH_MARGIN = env_int("PAYPAL_TOKEN_REFRESH_MARGIN", 300)
