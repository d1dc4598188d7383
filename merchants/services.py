import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.services import audit_note
from gateway.cache import MERCHANT_CONFIG

from .keys import api_key_cache_key, api_key_hash, api_key_new, api_key_prefix
from .models import ApiKey, Merchant


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def api_key_create(*, merchant: Merchant, kind: str, livemode: bool = False, name: str = "") -> CreatedKey:
    prefix = api_key_prefix(kind=kind, livemode=livemode)
    raw_key = api_key_new(kind=kind, livemode=livemode)
    api_key = ApiKey.objects.create(
        merchant=merchant,
        kind=kind,
        livemode=livemode,
        name=name,
        key_hash=api_key_hash(raw_key),
        prefix=raw_key[: len(prefix) + 4],
    )
    audit_note(
        action="api_key.create",
        object_type="merchants.apikey",
        object_id=api_key.id,
        merchant_id=merchant.id,
        after={"kind": kind, "livemode": livemode, "prefix": api_key.prefix, "name": name},
    )
    return CreatedKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_note(
            action="api_key.revoke",
            object_type="merchants.apikey",
            object_id=api_key.id,
            merchant_id=api_key.merchant_id,
            before={"revoked_at": None},
            after={"revoked_at": api_key.revoked_at},
        )
    # Drop the cached principal so the revocation takes effect on the next request.
    cache.delete(api_key_cache_key(api_key.key_hash))
    return api_key


_TOUCH_SECONDS = 60
_touched_until: dict[str, float] = {}  # this process: key id -> when it may ask Redis again


def api_key_touch(*, api_key_id: str) -> None:
    """Record use at most once a minute per key, so authentication does not write on every request.

    Redis decides which process writes (``add``); a process that asked within the minute does not
    ask again, so a steady stream of requests costs no Redis round trip here."""
    now = time.monotonic()
    if _touched_until.get(api_key_id, 0.0) > now:
        return
    if len(_touched_until) > 10_000:
        _touched_until.clear()
    _touched_until[api_key_id] = now + _TOUCH_SECONDS
    if cache.add(f"apikey-used:{api_key_id}", 1, timeout=_TOUCH_SECONDS):
        ApiKey.objects.filter(id=api_key_id).update(last_used_at=timezone.now())


@dataclass(frozen=True)
class CreatedMerchant:
    merchant: Merchant
    secret_key: CreatedKey
    publishable_key: CreatedKey


@transaction.atomic
def merchant_create(*, name: str, livemode: bool = False) -> CreatedMerchant:
    merchant = Merchant.objects.create(name=name)
    return CreatedMerchant(
        merchant=merchant,
        secret_key=api_key_create(merchant=merchant, kind="secret", livemode=livemode),
        publishable_key=api_key_create(merchant=merchant, kind="publishable", livemode=livemode),
    )


def merchant_update_rate_limit(*, merchant: Merchant, per_second: float | None, burst: int | None) -> Merchant:
    merchant.rate_limit_per_second = per_second
    merchant.rate_limit_burst = burst
    merchant.save(update_fields=["rate_limit_per_second", "rate_limit_burst", "updated"])
    merchant_invalidate_cached_keys(merchant=merchant)
    return merchant


def merchant_settings_set(*, merchant_id: str, settings: dict) -> None:
    """Replace a merchant's settings (e.g. ``{"sandbox": {...}}``); every process's cached copy of
    the merchant's configuration is reloaded on its next use."""
    Merchant.objects.filter(id=merchant_id).update(settings=settings, updated=timezone.now())
    MERCHANT_CONFIG.invalidate(merchant_id)


def merchant_invalidate_cached_keys(*, merchant: Merchant) -> None:
    cache.delete_many([api_key_cache_key(h) for h in merchant.api_keys.values_list("key_hash", flat=True)])
