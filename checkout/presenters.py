"""What the hosted page shows: the session, its lines and total in the customer's locale, the
methods on offer and where the payment stands. Built from selectors only; never holds a card."""

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.middleware.csrf import get_token
from django.urls import reverse

from customers.selectors import customer_get
from gateway.principal import Principal
from merchants.selectors import merchant_get
from payments.selectors import customer_payment_methods

from .formatting import locale_for, money_format
from .models import CheckoutSession
from .pay import PayOutcome
from .services import redirect_url_for

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "checkout"
ASSETS = {"checkout.js": "text/javascript; charset=utf-8", "checkout.css": "text/css; charset=utf-8"}

STATUS_TEXT = {
    "processing": "Processing your payment…",
    "redirect": "Your payment needs one more step.",
    "complete": "Payment complete.",
}


@lru_cache(maxsize=8)
def asset_version(name: str) -> str:
    return hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest()[:12]


def asset_url(name: str) -> str:
    return f"{reverse('checkout:asset', args=[name])}?v={asset_version(name)}"


def _saved_cards(session: CheckoutSession, customer: Principal | None) -> list[dict[str, Any]]:
    if customer is None:
        return []
    methods = customer_payment_methods(
        merchant_id=session.merchant_id, customer_id=customer.customer_id, livemode=session.livemode
    ).filter(type="card")[:10]
    return [
        {
            "id": m.id,
            "label": f"{m.card_brand.title()} ending in {m.card_last4}, "
            f"expires {m.card_exp_month:02d}/{m.card_exp_year % 100:02d}",
        }
        for m in methods
    ]


def page_context(
    *,
    request,
    session: CheckoutSession,
    outcome: PayOutcome,
    customer: Principal | None = None,
    card_form=None,
    login_form=None,
    login_error: str = "",
) -> dict[str, Any]:
    locale = locale_for(session_locale=session.locale, accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    money = lambda amount: money_format(amount=amount, currency=session.currency, locale=locale)  # noqa: E731
    customer_email = ""
    if customer is not None:
        customer_email = (
            customer_get(
                merchant_id=session.merchant_id, customer_id=customer.customer_id, livemode=session.livemode
            ).email
            or ""
        )
    state = outcome.kind
    show_forms = state in ("open", "declined", "unavailable", "invalid")
    errors = card_form.errors if card_form is not None and card_form.is_bound else {}
    first_error = next((name for name in ("number", "expiry", "cvc", "name") if name in errors), None)
    alert = outcome.message if state in ("declined", "unavailable", "failed") else ""
    return {
        "session": session,
        "merchant_name": merchant_get(merchant_id=session.merchant_id).name,
        "livemode": session.livemode,
        "lines": [
            {
                "description": item["description"],
                "quantity": item.get("quantity", 1),
                "amount": money(item["amount"]) if item.get("amount") is not None else "",
            }
            for item in session.line_items
        ],
        "total": money(session.amount_total),
        "locale_tag": locale.language + (f"-{locale.territory}" if locale.territory else ""),
        "state": state,
        "status_text": STATUS_TEXT.get(state, ""),
        "alert": alert,
        "redirect_url": outcome.redirect_url if state == "redirect" else None,
        "show_forms": show_forms,
        "offers_card": "card" in session.payment_method_types,
        "offers_paypal": "paypal" in session.payment_method_types,
        "card_form": card_form,
        "card_values": card_form.safe_initial() if card_form is not None and card_form.is_bound else {},
        "errors": {name: errors[name][0] for name in errors},
        "first_error": first_error,
        "customer_email": customer_email,
        "signed_in": customer is not None,
        "saved_cards": _saved_cards(session, customer) if "card" in session.payment_method_types else [],
        "can_save_card": bool(session.customer_id or customer is not None),
        "login_form": login_form,
        "login_error": login_error,
        "cancel_url": redirect_url_for(session.cancel_url, session_id=session.id),
        "success_url": redirect_url_for(session.success_url, session_id=session.id),
        "page_url": reverse("checkout:pay", args=[session.id]),
        "status_url": reverse("checkout:status", args=[session.id]),
        # Without JavaScript the processing page refreshes through the return endpoint, which sends
        # the customer on to success_url once the payment is final (or back here while it is not).
        "return_path": reverse("checkout:return", args=[session.id]),
        "poll_ms": settings.CHECKOUT_POLL_SECONDS * 1000 if state == "processing" else 0,
        "refresh_seconds": settings.CHECKOUT_POLL_SECONDS if state == "processing" else 0,
        "css_url": asset_url("checkout.css"),
        "js_url": asset_url("checkout.js"),
        "csrf_token": get_token(request),
    }
