"""Test settings: the real services (PostgreSQL, Redis, broker) are required, never the embedded mode."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from .base import *  # noqa: F403
from .base import LOGGING

PASSWORD_HASHERS = [
    # Argon2 stays first so the production hasher is what tests exercise, with cheap parameters.
    "gateway.testing.FastArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
LOGGING["root"]["level"] = os.environ.get("LOG_LEVEL", "WARNING")
