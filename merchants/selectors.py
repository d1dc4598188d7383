from django.conf import settings
from django.core.cache import cache

from gateway.principal import Principal

from .keys import api_key_cache_key, api_key_hash
from .models import ApiKey, Merchant

_REVOKED = "revoked"


def principal_for_api_key(*, raw_key: str) -> Principal | None:
    """Resolve a presented API key to a principal; None when unknown or revoked.

    The resolution is cached (by hash) for a minute; revocation deletes the entry.
    """
    key_hash = api_key_hash(raw_key)
    cache_key = api_key_cache_key(key_hash)
    cached = cache.get(cache_key)
    if cached == _REVOKED:
        return None
    if isinstance(cached, dict):
        return principal_from_cached(cached)
    api_key = ApiKey.objects.select_related("merchant").filter(key_hash=key_hash).first()
    if api_key is None or api_key.revoked_at is not None or not api_key.merchant.is_active:
        cache.set(cache_key, _REVOKED, timeout=settings.API_KEY_CACHE_SECONDS)
        return None
    data = {
        "kind": api_key.kind,
        "merchant_id": api_key.merchant_id,
        "livemode": api_key.livemode,
        "api_key_id": api_key.id,
        "rate_limit_per_second": api_key.merchant.rate_limit_per_second,
        "rate_limit_burst": api_key.merchant.rate_limit_burst,
    }
    cache.set(cache_key, data, timeout=settings.API_KEY_CACHE_SECONDS)
    return Principal(**data)


def principal_from_cached(cached: object) -> Principal | None:
    """The principal a cached resolution (``api_key_cache_key``) stands for; None for a revoked or
    unknown key's entry (or anything else)."""
    return Principal(**cached) if isinstance(cached, dict) else None


def api_key_cache_key_for(*, raw_key: str) -> str:
    """Where a presented key's resolution is cached."""
    return api_key_cache_key(api_key_hash(raw_key))


def merchant_get(*, merchant_id: str) -> Merchant:
    return Merchant.objects.get(id=merchant_id)


def merchant_exists(*, merchant_id: str) -> bool:
    return Merchant.objects.filter(id=merchant_id).exists()


def merchant_settings(*, merchant_id: str) -> dict:
    return Merchant.objects.filter(id=merchant_id).values_list("settings", flat=True).first() or {}
