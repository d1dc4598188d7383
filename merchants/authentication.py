from rest_framework.exceptions import AuthenticationFailed

from gateway.authentication import BearerTokenAuthentication
from gateway.principal import Principal

from .keys import API_KEY_PREFIXES


class ApiKeyAuthentication(BearerTokenAuthentication):
    """``Authorization: Bearer sk_...|pk_...``: a merchant's secret or publishable API key."""

    prefixes = API_KEY_PREFIXES

    def principal_for(self, token: str) -> Principal | None:
        # Imported here: DRF loads this module (settings) while gateway.errors is still importing
        # DRF, before the app registry is ready for the models behind the selectors.
        from .selectors import principal_for_api_key
        from .services import api_key_touch

        principal = principal_for_api_key(raw_key=token)
        if principal is not None:
            api_key_touch(api_key_id=principal.api_key_id)
        return principal

    def invalid(self, request):
        return AuthenticationFailed("Invalid API key provided.")
