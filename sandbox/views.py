"""The customer-facing pages of the sandbox processor: 3-D Secure challenge and PayPal approval.

Plain Django views (HTML, CSRF-protected forms), not API endpoints: the customer's browser is
sent here by ``next_action.redirect_url`` and back to the merchant's ``return_url`` afterwards.
The charge id (80 random bits) is the capability, as on a processor's hosted page.
"""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from gateway.money import to_decimal_string

from .models import SandboxCharge
from .selectors import sandbox_charge_get
from .services import ACTION_KINDS, sandbox_action_record

_PAGES = {
    "three_d_secure": {
        "template": "sandbox/three_d_secure.html",
        "approve": "complete",
        "refuse": "fail",
        "title": "3-D Secure authentication",
    },
    "paypal": {"template": "sandbox/paypal.html", "approve": "approve", "refuse": "cancel", "title": "PayPal"},
}


def _safe_return_url(url: str) -> str | None:
    parts = urlsplit(url or "")
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _page(request: HttpRequest, *, charge_id: str, kind: str) -> HttpResponse:
    page = _PAGES[kind]
    charge = sandbox_charge_get(charge_id=charge_id)
    if charge is None or ACTION_KINDS.get(charge.payment_method_type) != kind:
        return render(request, "sandbox/not_found.html", {"title": page["title"]}, status=404)

    if request.method == "POST":
        choice = request.POST.get("result")
        if choice not in (page["approve"], page["refuse"]):
            return render(request, "sandbox/not_found.html", {"title": page["title"], "bad_choice": True}, status=400)
        charge = sandbox_action_record(charge_id=charge.id, kind=kind, approve=choice == page["approve"])
        return_url = _safe_return_url(charge.return_url)
        if return_url:
            return HttpResponseRedirect(return_url)
        return render(request, "sandbox/done.html", _context(charge, page))

    pending = charge.status == SandboxCharge.Status.REQUIRES_ACTION and charge.action == SandboxCharge.Action.PENDING
    return render(request, page["template"] if pending else "sandbox/done.html", _context(charge, page))


def _context(charge: SandboxCharge, page: dict) -> dict:
    return {
        "charge": charge,
        "title": page["title"],
        "amount": to_decimal_string(charge.amount, charge.currency),
        "approve": page["approve"],
        "refuse": page["refuse"],
        "return_url": _safe_return_url(charge.return_url),
    }


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def three_d_secure(request: HttpRequest, charge_id: str) -> HttpResponse:
    return _page(request, charge_id=charge_id, kind="three_d_secure")


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def paypal(request: HttpRequest, charge_id: str) -> HttpResponse:
    return _page(request, charge_id=charge_id, kind="paypal")
