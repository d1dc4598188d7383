"""Responses every hosted-page view shares: headers, the 404/429/CSRF pages, the static assets."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ..http import page_headers, rate_limited
from ..models import CheckoutSession
from ..presenters import ASSETS, ASSETS_DIR, asset_url

CUSTOMER_COOKIE = "gw_checkout_cst"


def respond(response: HttpResponse, *, session: CheckoutSession | None = None) -> HttpResponse:
    urls = [session.success_url, session.cancel_url] if session is not None else []
    return page_headers(response, redirect_urls=urls)


def _simple(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    context = {"title": title, "message": message, "css_url": asset_url("checkout.css")}
    return respond(render(request, "checkout/message.html", context, status=status))


def not_found_page(request: HttpRequest) -> HttpResponse:
    return _simple(
        request,
        status=404,
        title="Checkout not found",
        message="This payment link is not valid. Please return to the merchant and start again.",
    )


def rate_limited_page(request: HttpRequest, *, session_id: str | None, submit: bool = False) -> HttpResponse | None:
    result = rate_limited(request, session_id=session_id, submit=submit)
    if result is None:
        return None
    response = _simple(
        request, status=429, title="Too many requests", message="Too many requests. Wait a moment and try again."
    )
    for name, value in result.headers().items():
        response[name] = value
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The page's CSRF failure (the API has no cookies, so this only ever meets a browser)."""
    return _simple(
        request,
        status=403,
        title="Page expired",
        message="This page was open for too long or cookies are blocked. Reload the page and try again.",
    )


def customer_cookie_set(request: HttpRequest, response: HttpResponse, token: str) -> None:
    response.set_cookie(
        CUSTOMER_COOKIE,
        token,
        max_age=settings.CUSTOMER_SESSION_TTL_SECONDS,
        path="/pay/",
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def asset(request: HttpRequest, name: str) -> HttpResponse:
    """checkout.js and checkout.css, from the app itself: no build step, no static-files setup."""
    if name not in ASSETS:
        raise Http404
    response = HttpResponse((ASSETS_DIR / name).read_bytes(), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
