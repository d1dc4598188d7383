"""The Django admin's sign-in, with a brute-force brake (django-ratelimit) in front of it.

Operators sign in with a username and password (PCI DSS 8.3.4 asks that repeated guessing be
stopped). Each POST to the sign-in form counts against the client's IP (as the trusted proxies
report it: ``gateway.forwarded.client_ip``) and against the username tried, in the shared cache, so
every instance behind the balancer counts together. Past either rate the form answers 429 without
checking the password at all, so a right guess made while throttled does not sign anyone in.
"""

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django_ratelimit.core import is_ratelimited

from gateway.forwarded import client_ip


def _ip_key(group: str, request) -> str:
    return client_ip(request)


def _username_key(group: str, request) -> str:
    return (request.POST.get("username") or "").strip().lower()


def admin_login(request, extra_context=None):
    if request.method == "POST":
        by_ip = is_ratelimited(
            request, group="admin-login-ip", key=_ip_key, rate=settings.ADMIN_LOGIN_RATE_PER_IP, increment=True
        )
        by_username = is_ratelimited(
            request,
            group="admin-login-username",
            key=_username_key,
            rate=settings.ADMIN_LOGIN_RATE_PER_USERNAME,
            increment=True,
        )
        if by_ip or by_username:
            response = HttpResponse(
                "Too many sign-in attempts. Wait a minute and try again.", status=429, content_type="text/plain"
            )
            response["Retry-After"] = "60"
            return response
    return admin.site.login(request, extra_context)
