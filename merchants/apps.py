from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway.fastread import fast_read_credentials_register

        from . import schema  # noqa: F401  (registers the OpenAPI scheme of API keys)
        from .keys import API_KEY_PREFIXES
        from .selectors import api_key_cache_key_for, principal_from_cached
        from .services import api_key_touch

        # A cached read answered without DRF resolves API keys as ApiKeyAuthentication does.
        fast_read_credentials_register(
            prefixes=API_KEY_PREFIXES,
            cache_key=lambda raw_key: api_key_cache_key_for(raw_key=raw_key),
            principal=principal_from_cached,
            used=lambda principal: api_key_touch(api_key_id=principal.api_key_id),
        )
