from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from gateway.authentication import bearer_token, principal_attach

from .keys import API_KEY_PREFIXES


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk_...|pk_...``. Other bearer tokens are left to the next class."""

    def authenticate(self, request: Request):
        # Imported here: DRF loads this module (settings) while gateway.errors is still importing
        # DRF, before the app registry is ready for the models behind the selectors.
        from .selectors import principal_for_api_key
        from .services import api_key_touch

        token = bearer_token(request)
        if token is None or not token.startswith(API_KEY_PREFIXES):
            return None
        principal = principal_for_api_key(raw_key=token)
        if principal is None:
            raise AuthenticationFailed("Invalid API key provided.")
        api_key_touch(api_key_id=principal.api_key_id)
        principal_attach(request, principal)
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'
