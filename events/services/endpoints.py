"""Webhook endpoints: where a merchant receives events, what it subscribes to, and the secret
the deliveries are signed with (sealed at rest; shown once, rotated with an overlap)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.errors import InvalidRequest, not_found

from ..models import WebhookEndpoint
from ..signing import secret_generate, secret_needs_reencrypt, secret_reencrypt, secret_seal
from ..types import EVENT_TYPES, WILDCARD
from ..url_safety import UnsafeUrl, webhook_target


def _validated_events(enabled_events: list[str]) -> list[str]:
    events = list(dict.fromkeys(enabled_events))
    if not events:
        raise InvalidRequest("enabled_events must list at least one event type.", param="enabled_events")
    if WILDCARD in events and len(events) > 1:
        raise InvalidRequest('"*" subscribes to every event; send it alone.', param="enabled_events")
    for index, name in enumerate(events):
        if name != WILDCARD and name not in EVENT_TYPES:
            raise InvalidRequest(
                f"Unknown event type '{name}'. Known types: {', '.join(sorted(EVENT_TYPES))}, or \"*\".",
                code="parameter_invalid",
                param=f"enabled_events[{index}]",
            )
    return events


def _validated_url(url: str) -> str:
    try:
        webhook_target(url)
    except UnsafeUrl as exc:
        raise InvalidRequest(str(exc), code="url_invalid", param="url") from None
    return url


def endpoint_for_update(*, merchant_id: str, livemode: bool, endpoint_id: str, param: str = "id") -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .filter(id=endpoint_id, merchant_id=merchant_id, livemode=livemode, deleted_at__isnull=True)
        .first()
    )
    if endpoint is None:
        raise not_found("webhook_endpoint", endpoint_id, param=param)
    return endpoint


def webhook_endpoint_create(
    *,
    merchant_id: str,
    livemode: bool,
    url: str,
    enabled_events: list[str],
    description: str = "",
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (the only time it is shown)."""
    events = _validated_events(enabled_events)
    _validated_url(url)
    with transaction.atomic():
        count = WebhookEndpoint.objects.filter(merchant_id=merchant_id, deleted_at__isnull=True).count()
        if count >= settings.WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT:
            raise InvalidRequest(
                f"A merchant may have at most {settings.WEBHOOK_MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints.",
                code="webhook_endpoint_limit",
                param=None,
            )
        secret = secret_generate()
        endpoint = WebhookEndpoint.objects.create(
            merchant_id=merchant_id,
            livemode=livemode,
            url=url,
            enabled_events=events,
            description=description,
            enabled=enabled,
            secret_encrypted=secret_seal(secret),
        )
    return endpoint, secret


_UNSET: Any = object()


def webhook_endpoint_update(
    *,
    merchant_id: str,
    livemode: bool,
    endpoint_id: str,
    url: str = _UNSET,
    enabled_events: list[str] = _UNSET,
    description: str = _UNSET,
    enabled: bool = _UNSET,
) -> WebhookEndpoint:
    """Change the given fields only (omitted arguments stay as they are)."""
    changes: dict[str, Any] = {}
    if url is not _UNSET:
        changes["url"] = _validated_url(url)
    if enabled_events is not _UNSET:
        changes["enabled_events"] = _validated_events(enabled_events)
    if description is not _UNSET:
        changes["description"] = description
    if enabled is not _UNSET:
        changes["enabled"] = enabled
    with transaction.atomic():
        endpoint = endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if changes:
            endpoint.save(update_fields=[*changes, "updated"])
    return endpoint


def webhook_endpoint_delete(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """Soft delete: the endpoint stops receiving (pending deliveries are canceled at their next
    attempt) while its delivery history stays for audit."""
    with transaction.atomic():
        endpoint = endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        endpoint.deleted_at = timezone.now()
        endpoint.enabled = False
        endpoint.save(update_fields=["deleted_at", "enabled", "updated"])
    return endpoint


def webhook_endpoint_rotate_secret(
    *, merchant_id: str, livemode: bool, endpoint_id: str, overlap_seconds: int | None = None
) -> tuple[WebhookEndpoint, str]:
    """New signing secret; the current one keeps signing alongside it for ``overlap_seconds``
    (default ``WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS``), so receivers can switch without a gap."""
    if overlap_seconds is None:
        overlap_seconds = settings.WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS
    with transaction.atomic():
        endpoint = endpoint_for_update(merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id)
        secret = secret_generate()
        if overlap_seconds > 0:
            endpoint.previous_secret_encrypted = endpoint.secret_encrypted
            endpoint.previous_secret_expires_at = timezone.now() + timedelta(seconds=overlap_seconds)
        else:
            endpoint.previous_secret_encrypted = None
            endpoint.previous_secret_expires_at = None
        endpoint.secret_encrypted = secret_seal(secret)
        endpoint.save(
            update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated"]
        )
    return endpoint, secret


def webhook_secrets_reencrypt() -> int:
    """Re-encrypt endpoint secrets still under an older key; returns how many endpoints changed."""
    changed = 0
    for endpoint_id in WebhookEndpoint.objects.values_list("id", flat=True).iterator():
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(id=endpoint_id)
            fields = []
            for field in ("secret_encrypted", "previous_secret_encrypted"):
                token = getattr(endpoint, field)
                if token and secret_needs_reencrypt(token):
                    setattr(endpoint, field, secret_reencrypt(token))
                    fields.append(field)
            if fields:
                endpoint.save(update_fields=fields)
                changed += 1
    return changed
