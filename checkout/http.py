"""What every response of the hosted page carries, and its rate limit.

* ``Content-Security-Policy``: scripts, styles and requests only from the gateway itself (no
  inline script or style anywhere), no frames of the page (``frame-ancestors 'none'``), forms only
  to the gateway; a submitted form may be redirected to the session's success/cancel origins and
  the processors' customer pages (Chrome applies ``form-action`` to those redirects).
* ``Cache-Control: no-store`` (the back button asks again), ``Referrer-Policy: same-origin`` (the
  session id never leaks in a Referer to another site; ``no-referrer`` would make Chrome send
  ``Origin: null`` on the page's own form posts, which CSRF rightly refuses), ``X-Frame-Options: DENY``.
* Token buckets per client IP and per session (``gateway.ratelimit``, shared by all instances).
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from gateway.forwarded import client_ip
from gateway.ratelimit import BucketResult, bucket_take


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(*, redirect_urls: Iterable[str] = ()) -> str:
    origins = {o for o in (_origin(u) for u in [*redirect_urls, settings.SANDBOX_BASE_URL]) if o}
    origins.update(settings.CHECKOUT_REDIRECT_ORIGINS)
    form_action = " ".join(["'self'", *sorted(origins)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        f"font-src 'none'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def page_headers(response: HttpResponse, *, redirect_urls: Iterable[str] = ()) -> HttpResponse:
    response["Content-Security-Policy"] = content_security_policy(redirect_urls=redirect_urls)
    response["Referrer-Policy"] = "same-origin"
    response["X-Frame-Options"] = "DENY"
    response["X-Content-Type-Options"] = "nosniff"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
    return response


def rate_limited(request: HttpRequest, *, session_id: str | None, submit: bool = False) -> BucketResult | None:
    """The first bucket that refuses, or None when every bucket has a token."""
    rate, burst = settings.CHECKOUT_RATE_PER_SECOND, settings.CHECKOUT_RATE_BURST
    keys = [f"checkout:ip:{client_ip(request)}"]
    if session_id:
        keys.append(f"checkout:cs:{session_id}")
    for key in keys:
        result = bucket_take(key=key, rate=rate, burst=burst)
        if result is not None and not result.allowed:
            return result
    if submit and session_id:
        result = bucket_take(
            key=f"checkout:submit:{session_id}",
            rate=settings.CHECKOUT_SUBMIT_RATE_PER_SECOND,
            burst=settings.CHECKOUT_SUBMIT_BURST,
        )
        if result is not None and not result.allowed:
            return result
    return None
