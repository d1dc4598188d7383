"""How the payments app finds the connectors to try, in order, for a payment.

``route_for`` returns an ordered list; the payments app tries the next entry only after an
attempt whose outcome is FAILED (provably nothing moved). Routing model:

* Only accounts whose ``livemode`` equals the payment's: test and live never mix.
* A merchant's ``ProcessorRoute`` rows for the payment method type: entries for the payment's
  currency first (by priority), then the currency-independent ones (by priority); an account
  appears once; inactive accounts are skipped.
* No route configured for that payment method (in that mode): the built-in sandbox in test mode;
  in live mode an empty list (the sandbox moves no real money, so it never takes a live payment).
* Routes configured but none usable: an empty list (the payments app answers 503
  ``processor_unavailable``); the sandbox is never silently substituted for a real processor.
* An account whose processor cannot take the payment's currency, or this amount of it exactly
  (``processors.currencies``: each processor's own rules), is skipped; if that leaves none, the
  answer is that processor's 400 (``currency_not_supported`` / ``amount_not_representable``),
  not a 503: retrying cannot help, and nothing was called.

Every connector returned is a ``GuardedConnector``: circuit breaker per account (state in Redis)
and latency recorded in ``ProcessorResult.latency_ms``.
"""

import json
from dataclasses import dataclass
from typing import Any

from gateway.cache import MERCHANT_CONFIG
from gateway.errors import InvalidRequest

from .base import Connector
from .breakers import GuardedConnector, breaker_state
from .registry import connector_class

SANDBOX_ACCOUNT_ID = "sandbox"


@dataclass(frozen=True)
class RouteEntry:
    account_id: str
    processor: str
    connector: Connector


def account_credentials(account) -> dict[str, Any]:
    """Decrypted credentials of a ``ProcessorAccount`` (in memory only; never logged or returned)."""
    from gateway.crypto import decrypt

    from .models import CREDENTIALS_PURPOSE

    if not account.credentials_encrypted:
        return {}
    return json.loads(decrypt(account.credentials_encrypted, purpose=CREDENTIALS_PURPOSE))


def _guard(inner: Connector, *, breaker_name: str, merchant_id: str, account=None) -> GuardedConnector:
    # The account's own breaker settings, or the process settings read at each call (None).
    return GuardedConnector(
        inner,
        breaker_name=breaker_name,
        merchant_id=merchant_id,
        fail_max=getattr(account, "breaker_fail_max", None) or None,
        reset_timeout=getattr(account, "breaker_reset_timeout", None) or None,
    )


def sandbox_breaker_name(merchant_id: str) -> str:
    return f"sandbox:{merchant_id}"


def connector_for_processor_account(account) -> Connector:
    """The guarded connector of a ``ProcessorAccount`` row (credentials decrypted into its config)."""
    config: dict[str, Any] = {
        **account_credentials(account),
        "merchant_id": account.merchant_id,
        "livemode": account.livemode,
        "base_url": account.base_url,
        "connect_timeout": account.connect_timeout,
        "read_timeout": account.read_timeout,
        "webhook_id": account.webhook_id,
    }
    inner = connector_class(account.processor)(account_id=account.id, config=config)
    return _guard(inner, breaker_name=account.id, merchant_id=account.merchant_id, account=account)


# --- the per-process cache of the merchant's configuration ------------------------------------------
# Routes, accounts and the connectors built from them (credentials decrypted once) live in
# ``gateway.cache.MERCHANT_CONFIG``: one Redis GET of the merchant's version per lookup instead of
# the queries; every write (``processors.services``, the admin through them) invalidates it.
# Connectors are stateless between calls (their breaker is built per call, state in Redis), so one
# instance serves every thread of the process.


@dataclass(frozen=True)
class _Route:
    currency: str
    account: Any  # the ProcessorAccount row as loaded (read-only)


def _sandbox(merchant_id: str, version: str | None = None) -> Connector:
    def build() -> Connector:
        # The version it was built under rides along: the sandbox reads its settings at that version.
        config = {"merchant_id": merchant_id, "config_version": version}
        inner = connector_class("sandbox")(account_id=SANDBOX_ACCOUNT_ID, config=config)
        return _guard(inner, breaker_name=sandbox_breaker_name(merchant_id), merchant_id=merchant_id)

    return MERCHANT_CONFIG.get(merchant_id, "connector:sandbox", build, version=version)


def _account_connector(account, version: str | None) -> Connector:
    return MERCHANT_CONFIG.get(
        account.merchant_id,
        f"connector:{account.id}",
        lambda: connector_for_processor_account(account),
        version=version,
    )


def connector_for_account(*, merchant_id: str, account_id: str) -> Connector:
    """The connector of one processor account of this merchant (e.g. for follow-ups on a payment).

    Inactive accounts are still returned: captures and refunds of their payments must go on.
    """
    from .models import ProcessorAccount

    version = MERCHANT_CONFIG.version(merchant_id)
    if account_id == SANDBOX_ACCOUNT_ID:
        return _sandbox(merchant_id, version)
    account = MERCHANT_CONFIG.get(
        merchant_id,
        f"account:{account_id}",
        lambda: ProcessorAccount.objects.filter(merchant_id=merchant_id, id=account_id).first(),
        version=version,
    )
    if account is None:
        raise LookupError(f"unknown processor account {account_id!r}")
    return _account_connector(account, version)


def _routes_load(*, merchant_id: str, payment_method_type: str, livemode: bool) -> tuple[_Route, ...]:
    from .models import ProcessorRoute

    routes = (
        ProcessorRoute.objects.filter(
            merchant_id=merchant_id,
            payment_method_type=payment_method_type,
            account__livemode=livemode,
            account__merchant_id=merchant_id,  # a route can only ever reach its own merchant's account
        )
        .select_related("account")
        .order_by("priority")
    )
    return tuple(_Route(currency=route.currency, account=route.account) for route in routes)


def route_for(
    *, merchant_id: str, payment_method_type: str, currency: str, livemode: bool = False, amount: int | None = None
) -> list[RouteEntry]:
    """Only accounts of the payment's mode: a test payment never reaches a live account and a
    live payment never reaches the sandbox (no live route -> ``[]`` -> 503). With ``amount``,
    accounts whose processor cannot take it exactly are skipped; if none is left for that reason,
    the first one's refusal is raised (400)."""
    version = MERCHANT_CONFIG.version(merchant_id)
    routes = MERCHANT_CONFIG.get(
        merchant_id,
        f"routes:{'live' if livemode else 'test'}:{payment_method_type}",
        lambda: _routes_load(merchant_id=merchant_id, payment_method_type=payment_method_type, livemode=livemode),
        version=version,
    )
    if not routes:
        if livemode:
            return []
        return [
            RouteEntry(account_id=SANDBOX_ACCOUNT_ID, processor="sandbox", connector=_sandbox(merchant_id, version))
        ]
    currency = (currency or "").upper()
    ordered = [r for r in routes if r.currency == currency] + [r for r in routes if r.currency == ""]
    entries: list[RouteEntry] = []
    refusals: list[InvalidRequest] = []
    seen: set[str] = set()
    for route in ordered:
        account = route.account
        if not account.is_active or account.id in seen or (livemode and account.processor == "sandbox"):
            continue
        seen.add(account.id)
        refusal = (
            None
            if amount is None
            else processor_amount_refusal(processor=account.processor, amount=amount, currency=currency)
        )
        if refusal is not None:
            refusals.append(refusal)
            continue
        entries.append(
            RouteEntry(
                account_id=account.id, processor=account.processor, connector=_account_connector(account, version)
            )
        )
    if not entries and refusals:
        raise refusals[0]
    return entries


def processor_amount_refusal(
    *, processor: str, amount: int, currency: str, param: str = "amount"
) -> InvalidRequest | None:
    """The 400 if ``processor`` cannot take ``amount`` ISO minor units of ``currency`` exactly
    (its currency table), else None. Processors without a table (the sandbox) take ISO amounts."""
    try:
        table = connector_class(processor).currencies
    except LookupError:  # no such connector: the call itself will fail as not processed
        return None
    return None if table is None else table.refusal(amount, currency, param=param)


def processor_amount_check(*, processor: str, amount: int, currency: str, param: str = "amount") -> None:
    """Raise ``processor_amount_refusal``'s 400, before any call (captures, refunds)."""
    refusal = processor_amount_refusal(processor=processor, amount=amount, currency=currency, param=param)
    if refusal is not None:
        raise refusal


def processor_account_get(*, account_id: str):
    """A ``ProcessorAccount`` by id across merchants (incoming webhooks know only the account id)."""
    from .models import ProcessorAccount

    return ProcessorAccount.objects.filter(id=account_id).select_related("merchant").first()


def processor_account_list(*, merchant_id: str | None = None):
    from .models import ProcessorAccount

    accounts = ProcessorAccount.objects.select_related("merchant").order_by("merchant_id", "id")
    return accounts.filter(merchant_id=merchant_id) if merchant_id else accounts


def account_breaker_state(*, account_id: str) -> dict[str, Any]:
    return breaker_state(account_id)
