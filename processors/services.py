"""Writes of the processors app: processor accounts, routes, and incoming processor webhooks."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_note
from gateway.cache import MERCHANT_CONFIG
from gateway.crypto import encrypt, needs_reencrypt, reencrypt
from gateway.errors import InvalidRequest, NotFound

from .base import WebhookEvent
from .models import CREDENTIALS_PURPOSE, ProcessorAccount, ProcessorRoute, ProcessorWebhookEvent
from .paypal import paypal_token_forget
from .selectors import connector_for_processor_account

PAYPAL_WEBHOOK_ID = re.compile(r"[A-Za-z0-9]{1,50}")
REQUIRED_CREDENTIALS = {
    ProcessorAccount.Processor.STRIPE: ("secret_key",),
    ProcessorAccount.Processor.PAYPAL: ("client_id", "client_secret"),
    ProcessorAccount.Processor.SANDBOX: (),
}
ALLOWED_CREDENTIALS = {
    ProcessorAccount.Processor.STRIPE: {"secret_key", "webhook_secret", "card_mode", "stripe_version"},
    ProcessorAccount.Processor.PAYPAL: {"client_id", "client_secret"},
    ProcessorAccount.Processor.SANDBOX: set(),
}


def processor_credentials_clean(processor: str, credentials: dict[str, Any]) -> dict[str, str]:
    missing = [key for key in REQUIRED_CREDENTIALS[processor] if not credentials.get(key)]
    if missing:
        raise InvalidRequest(f"{processor} credentials need {', '.join(missing)}.", param="credentials")
    unknown = set(credentials) - ALLOWED_CREDENTIALS[processor]
    if unknown:
        raise InvalidRequest(f"Unknown {processor} credential(s): {', '.join(sorted(unknown))}.", param="credentials")
    return {key: str(value) for key, value in credentials.items() if value not in (None, "")}


def processor_credentials_encrypt(credentials: dict[str, str]) -> str:
    return encrypt(json.dumps(credentials, sort_keys=True).encode(), purpose=CREDENTIALS_PURPOSE) if credentials else ""


def _timeouts_within_request_deadline(*, connect_timeout: float | None, read_timeout: float | None) -> None:
    """A request must end before its Idempotency-Key is presumed dead and a retry takes it over
    (IDEMPOTENCY_REQUEST_DEADLINE_SECONDS). One request makes up to two processor calls in a row
    (Stripe: the PaymentMethod, then the PaymentIntent; PayPal: a token, then the order)."""
    connect = connect_timeout if connect_timeout is not None else settings.PROCESSOR_CONNECT_TIMEOUT
    read = read_timeout if read_timeout is not None else settings.PROCESSOR_READ_TIMEOUT
    deadline = settings.IDEMPOTENCY_REQUEST_DEADLINE_SECONDS
    if 2 * (connect + read) >= deadline:
        raise InvalidRequest(
            f"connect_timeout + read_timeout must stay under {deadline / 2:g} seconds: two processor calls "
            f"must end before a request's Idempotency-Key is presumed dead ({deadline} s).",
            param="read_timeout",
        )


def processor_config_changed(*, merchant_id: str) -> None:
    """Every write of a merchant's accounts or routes (services, admin): every process's cached
    routes, accounts and connectors of that merchant are reloaded on their next use."""
    MERCHANT_CONFIG.invalidate(merchant_id)


def processor_account_create(
    *,
    merchant_id: str,
    processor: str,
    display_name: str,
    credentials: dict[str, Any],
    livemode: bool = False,
    base_url: str = "",
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    webhook_id: str = "",
    breaker_fail_max: int | None = None,
    breaker_reset_timeout: float | None = None,
) -> ProcessorAccount:
    if processor not in ProcessorAccount.Processor.values:
        raise InvalidRequest(f"Unknown processor {processor!r}.", param="processor")
    for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
        if value is not None and not 0 < value <= 120:
            raise InvalidRequest(f"{name} must be between 0 and 120 seconds.", param=name)
    _timeouts_within_request_deadline(connect_timeout=connect_timeout, read_timeout=read_timeout)
    if processor == ProcessorAccount.Processor.PAYPAL and webhook_id and not PAYPAL_WEBHOOK_ID.fullmatch(webhook_id):
        # verify-webhook-signature.post: webhook_id "pattern": "^[a-zA-Z0-9]+$", "maxLength": 50.
        raise InvalidRequest(
            "webhook_id must be the PayPal webhook's id: letters and digits, at most 50.", param="webhook_id"
        )
    cleaned = processor_credentials_clean(processor, credentials)
    with transaction.atomic():
        account = ProcessorAccount.objects.create(
            merchant_id=merchant_id,
            processor=processor,
            display_name=display_name,
            livemode=livemode,
            credentials_encrypted=processor_credentials_encrypt(cleaned),
            base_url=base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            webhook_id=webhook_id,
            breaker_fail_max=breaker_fail_max,
            breaker_reset_timeout=breaker_reset_timeout,
        )
        audit_note(
            action="processor_account.create",
            object_type="processors.processoraccount",
            object_id=account.id,
            merchant_id=merchant_id,
            after={"processor": processor, "livemode": livemode, "keys_set": sorted(cleaned)},
        )
        processor_config_changed(merchant_id=merchant_id)
    return account


def processor_account_set_credentials(*, account: ProcessorAccount, credentials: dict[str, Any]) -> ProcessorAccount:
    """Replace the stored credentials (encrypted; the old ones are gone)."""
    account.credentials_encrypted = processor_credentials_encrypt(
        processor_credentials_clean(account.processor, credentials)
    )
    with transaction.atomic():
        account.save(update_fields=["credentials_encrypted", "updated"])
        audit_note(
            action="processor_account.credentials_replace",
            object_type="processors.processoraccount",
            object_id=account.id,
            merchant_id=account.merchant_id,
            after={"keys_set": sorted(credentials)},
        )
        processor_config_changed(merchant_id=account.merchant_id)
    if account.processor == ProcessorAccount.Processor.PAYPAL:
        paypal_token_forget(account_id=account.id, client_id=str(credentials.get("client_id", "")))
    return account


def processor_account_set_active(*, account_id: str, is_active: bool) -> ProcessorAccount:
    account = ProcessorAccount.objects.filter(id=account_id).first()
    if account is None:
        raise NotFound(f"No such processor account: '{account_id}'", param="account_id")
    account.is_active = is_active
    account.save(update_fields=["is_active", "updated"])
    processor_config_changed(merchant_id=account.merchant_id)
    return account


@transaction.atomic
def processor_route_set(
    *, merchant_id: str, payment_method_type: str, account_ids: list[str], currency: str = ""
) -> list[ProcessorRoute]:
    """Replace the merchant's route for (payment method, currency) by ``account_ids`` in order."""
    if payment_method_type not in ProcessorRoute.PaymentMethodType.values:
        raise InvalidRequest(f"Unknown payment method type {payment_method_type!r}.", param="payment_method_type")
    currency = currency.upper()
    if len(set(account_ids)) != len(account_ids):
        raise InvalidRequest("An account may appear once per route.", param="account_ids")
    accounts = {a.id: a for a in ProcessorAccount.objects.filter(merchant_id=merchant_id, id__in=account_ids)}
    for account_id in account_ids:
        if account_id not in accounts:
            raise NotFound(f"No such processor account: '{account_id}'", param="account_ids")
    ProcessorRoute.objects.filter(
        merchant_id=merchant_id, payment_method_type=payment_method_type, currency=currency
    ).delete()
    processor_config_changed(merchant_id=merchant_id)
    return [
        ProcessorRoute.objects.create(
            merchant_id=merchant_id,
            payment_method_type=payment_method_type,
            currency=currency,
            priority=index + 1,
            account=accounts[account_id],
        )
        for index, account_id in enumerate(account_ids)
    ]


# --- incoming processor webhooks ------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookReceipt:
    event: ProcessorWebhookEvent
    duplicate: bool
    applied: bool


# Who applies a verified event: set once at start-up by the payments app (PaymentsConfig.ready),
# so this app never imports the payments app (which calls it through route_for and the connectors).
WebhookHandler = Callable[..., None]
_webhook_handler: WebhookHandler | None = None


def processor_webhook_handler_set(handler: WebhookHandler) -> None:
    """Register ``handler(processor_account_id=..., event=WebhookEvent)``, called in the
    transaction that stores each new event."""
    global _webhook_handler
    _webhook_handler = handler


def processor_webhook_handler() -> WebhookHandler:
    if _webhook_handler is None:
        raise RuntimeError("no processor webhook handler registered (is the payments app installed?)")
    return _webhook_handler


# Who handles an event about a dispute: set by the disputes app (DisputesConfig.ready). Without one
# (the app not installed) dispute events are stored and acknowledged, and nothing else happens.
DisputeHandler = Callable[..., None]
_dispute_handler: DisputeHandler | None = None


def processor_dispute_handler_set(handler: DisputeHandler | None) -> None:
    """Register ``handler(merchant_id=..., processor_account_id=..., dispute_reference=...)``, called in
    the transaction that stores a dispute event (and by the sandbox when it opens or closes one)."""
    global _dispute_handler
    _dispute_handler = handler


def processor_dispute_notify(*, merchant_id: str, processor_account_id: str, dispute_reference: str) -> bool:
    """A processor says one of its disputes changed; the handler reads it from the processor.
    False when no handler is registered."""
    if _dispute_handler is None:
        return False
    _dispute_handler(
        merchant_id=merchant_id, processor_account_id=processor_account_id, dispute_reference=dispute_reference
    )
    return True


def processor_webhook_receive(*, account: ProcessorAccount, headers: dict[str, str], body: bytes) -> WebhookReceipt:
    """Verify, store once, apply. Raises ``WebhookVerificationError`` (nothing stored) on a bad
    signature and ``WebhookVerificationUnavailable`` when the check cannot be made now.

    Storing and applying share one transaction: if applying fails, nothing is kept and the
    processor's redelivery tries again.
    """
    apply = processor_webhook_handler()
    connector = connector_for_processor_account(account)
    event: WebhookEvent = connector.parse_webhook(headers=headers, body=body)
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = ProcessorWebhookEvent.objects.create(
                    merchant_id=account.merchant_id,
                    account=account,
                    processor_event_id=event.processor_event_id,
                    type=event.type,
                    processor_reference=event.processor_reference or "",
                    refund_reference=event.refund_reference or "",
                    payload=event.raw,
                )
        except IntegrityError:
            existing = ProcessorWebhookEvent.objects.get(account=account, processor_event_id=event.processor_event_id)
            return WebhookReceipt(event=existing, duplicate=True, applied=existing.applied_at is not None)
        if event.dispute_reference:
            processor_dispute_notify(
                merchant_id=account.merchant_id,
                processor_account_id=account.id,
                dispute_reference=event.dispute_reference,
            )
        else:
            apply(processor_account_id=account.id, event=event)
        row.applied_at = timezone.now()
        row.save(update_fields=["applied_at"])
    return WebhookReceipt(event=row, duplicate=False, applied=True)


def processor_credentials_reencrypt() -> int:
    """Re-encrypt stored credentials still under an older key (after a key was appended to
    ENCRYPTION_KEYS), so the old key can be dropped. Returns how many accounts changed."""
    changed = 0
    for account_id in (
        ProcessorAccount.objects.exclude(credentials_encrypted="").values_list("id", flat=True).iterator()
    ):
        with transaction.atomic():
            account = ProcessorAccount.objects.select_for_update().get(id=account_id)
            if account.credentials_encrypted and needs_reencrypt(account.credentials_encrypted):
                account.credentials_encrypted = reencrypt(account.credentials_encrypted, purpose=CREDENTIALS_PURPOSE)
                account.save(update_fields=["credentials_encrypted"])
                processor_config_changed(merchant_id=account.merchant_id)
                changed += 1
    return changed
