"""Operators: the Django admin's sign-in protection (the audit trail itself needs no settings)."""

from .env import env

# Brute-force brake on the admin's sign-in form (django-ratelimit rates "<count>/<period>"): per
# client IP and per username, counted in the shared cache so every instance sees the same count.
# Django's own password hashing makes each guess slow; this makes guessing at volume impossible.
ADMIN_LOGIN_RATE_PER_IP = env("ADMIN_LOGIN_RATE_PER_IP", "20/m")
ADMIN_LOGIN_RATE_PER_USERNAME = env("ADMIN_LOGIN_RATE_PER_USERNAME", "5/m")
