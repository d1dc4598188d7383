"""The hosted payment page (``/pay/cs_...``): plain Django views, server-rendered, working with
JavaScript off (form posts, post/redirect/get, a refresh while processing) and better with it
(``static/checkout/checkout.js``). The session id in the URL is the capability, as on Stripe's
page; nothing the browser sends is trusted beyond that: the processor's answer decides.

Card fields exist only in this request's memory: they are passed to payments and dropped; a form
with errors is rendered again without them; Django's error reports mask them
(``sensitive_post_parameters``) and the access log never holds a body.
"""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.selectors import principal_for_session_token
from customers.services import customer_login, customer_logout
from gateway.errors import ApiError
from gateway.forwarded import client_ip
from gateway.principal import Principal

from ..forms import CardForm, LoginForm, SavedCardForm
from ..models import CheckoutSession
from ..pay import PayOutcome, checkout_outcome, checkout_pay
from ..presenters import page_context
from ..selectors import checkout_session_for_page
from ..services import checkout_session_sync
from .common import CUSTOMER_COOKIE, customer_cookie_set, not_found_page, rate_limited_page, respond

logger = logging.getLogger("checkout")

_SENSITIVE = ("number", "cvc", "expiry", "name", "password")


def _customer(request: HttpRequest, session: CheckoutSession) -> Principal | None:
    """The signed-in customer (``cst_`` session in an HttpOnly cookie) if it may pay this session."""
    token = request.COOKIES.get(CUSTOMER_COOKIE, "")
    if not token.startswith("cst_") or len(token) > 200:
        return None
    principal = principal_for_session_token(raw_token=token)
    if (
        principal is None
        or principal.merchant_id != session.merchant_id
        or principal.livemode != session.livemode
        or (session.customer_id and principal.customer_id != session.customer_id)
    ):
        return None
    return principal


def _render(request, session, outcome, *, status=200, customer=None, **extra) -> HttpResponse:
    context = page_context(request=request, session=session, outcome=outcome, customer=customer, **extra)
    template = {"complete": "checkout/complete.html", "closed": "checkout/expired.html"}.get(
        outcome.kind, "checkout/pay.html"
    )
    if outcome.kind == "closed":
        status = 410
    return respond(render(request, template, context, status=status), session=session)


def _after(request, session: CheckoutSession, outcome: PayOutcome) -> HttpResponse:
    """Post/redirect/get: the customer goes to the merchant, the processor's page, or back here."""
    if outcome.kind in ("complete", "redirect") and outcome.redirect_url:
        return respond(HttpResponseRedirect(outcome.redirect_url, status=303), session=session)
    response = HttpResponseRedirect(reverse("checkout:pay", args=[session.id]))
    response.status_code = 303
    return respond(response, session=session)


def _page_session(request, session_id: str, *, submit: bool = False):
    limited = rate_limited_page(request, session_id=session_id, submit=submit)
    if limited is not None:
        return None, limited
    session = checkout_session_for_page(session_id=session_id)
    if session is None:
        return None, not_found_page(request)
    return session, None


@sensitive_post_parameters(*_SENSITIVE)
@csrf_protect
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, session_id: str) -> HttpResponse:
    session, refused = _page_session(request, session_id, submit=request.method == "POST")
    if refused is not None:
        return refused
    customer = _customer(request, session)
    if request.method == "POST":
        return _submit(request, session, customer)
    session = checkout_session_sync(session_id=session.id)
    return _render(request, session, checkout_outcome(session), customer=customer)


def _submit(request: HttpRequest, session: CheckoutSession, customer: Principal | None) -> HttpResponse:
    method = request.POST.get("method")
    customer_id = customer.customer_id if customer else None
    if method == "card":
        form = CardForm(request.POST)
        if not form.is_valid():
            return _render(
                request, session, PayOutcome("invalid", session), status=400, customer=customer, card_form=form
            )
        can_save = bool(session.customer_id or customer_id)
        outcome = checkout_pay(
            session_id=session.id,
            payment_method=form.cleaned_data["payment_method"],
            method_type="card",
            customer_id=customer_id,
            save_payment_method=bool(form.cleaned_data.get("save_card")) and can_save,
        )
        if outcome.kind == "invalid":
            form.add_payment_error(param=outcome.param, message=outcome.message)
            return _render(request, outcome.session, outcome, status=400, customer=customer, card_form=form)
    elif method == "saved" and customer is not None:
        form = SavedCardForm(request.POST)
        if not form.is_valid():
            return _render(request, session, PayOutcome("invalid", session), status=400, customer=customer)
        outcome = checkout_pay(
            session_id=session.id,
            payment_method=form.cleaned_data["payment_method"],
            method_type="card",
            customer_id=customer_id,
        )
    elif method == "paypal":
        outcome = checkout_pay(
            session_id=session.id, payment_method={"type": "paypal"}, method_type="paypal", customer_id=customer_id
        )
    else:
        return _render(request, session, PayOutcome("invalid", session), status=400, customer=customer)
    if outcome.kind == "invalid":
        return _render(request, outcome.session, outcome, status=400, customer=customer)
    return _after(request, outcome.session, outcome)


@require_GET
def payment_return(request: HttpRequest, session_id: str) -> HttpResponse:
    """Back from 3-D Secure or PayPal (via payments' return endpoint, which asked the processor)."""
    session, refused = _page_session(request, session_id)
    if refused is not None:
        return refused
    session = checkout_session_sync(session_id=session.id)
    return _after(request, session, checkout_outcome(session))


@require_GET
def status(request: HttpRequest, session_id: str) -> HttpResponse:
    """Where the payment stands, for the page's polling (the session id authorizes it)."""
    session, refused = _page_session(request, session_id)
    if refused is not None:
        return refused
    session = checkout_session_sync(session_id=session.id)
    outcome = checkout_outcome(session)
    follow = {
        "complete": outcome.redirect_url,
        "redirect": outcome.redirect_url,
        "processing": None,
        "open": None,
    }
    next_url = follow.get(outcome.kind, reverse("checkout:pay", args=[session.id]))
    body = {
        "object": "checkout_session_status",
        "status": session.status,
        "payment_status": session.payment_status,
        "state": outcome.kind,
        "message": outcome.message,
        "next": next_url,
    }
    return respond(JsonResponse(body), session=session)


@sensitive_post_parameters(*_SENSITIVE)
@csrf_protect
@require_POST
def login(request: HttpRequest, session_id: str) -> HttpResponse:
    session, refused = _page_session(request, session_id, submit=True)
    if refused is not None:
        return refused
    form = LoginForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            _customer_session, token = customer_login(
                merchant_id=session.merchant_id,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                client_ip=client_ip(request),
                livemode=session.livemode,
            )
        except ApiError as exc:
            error = (
                "Too many attempts; wait a moment and try again."
                if exc.status_code == 429
                else ("The email address or password is incorrect.")
            )
        else:
            principal = principal_for_session_token(raw_token=token)
            if principal is not None and session.customer_id and principal.customer_id != session.customer_id:
                customer_logout(customer_id=principal.customer_id, session_id=principal.session_id)
                error = "Sign in with the account this purchase belongs to."
            else:
                response = HttpResponseRedirect(reverse("checkout:pay", args=[session.id]))
                response.status_code = 303
                customer_cookie_set(request, response, token)
                return respond(response, session=session)
    else:
        error = "Enter your email address and password."
    session = checkout_session_sync(session_id=session.id)
    return _render(request, session, checkout_outcome(session), status=400, login_form=form, login_error=error)


@csrf_protect
@require_POST
def logout(request: HttpRequest, session_id: str) -> HttpResponse:
    session, refused = _page_session(request, session_id)
    if refused is not None:
        return refused
    customer = _customer(request, session)
    if customer is not None:
        customer_logout(customer_id=customer.customer_id, session_id=customer.session_id)
    response = HttpResponseRedirect(reverse("checkout:pay", args=[session.id]))
    response.status_code = 303
    response.delete_cookie(CUSTOMER_COOKIE, path="/pay/", samesite="Lax")
    return respond(response, session=session)
