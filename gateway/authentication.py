from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from gateway.context import merchant_id_var
from gateway.principal import Principal

API_KEY_PREFIXES = ("sk_test_", "sk_live_", "pk_test_", "pk_live_")


def bearer_token(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_attach(request: Request, principal: Principal) -> None:
    """Expose the principal to middleware (logging) and log context."""
    request._request.gateway_principal = principal
    merchant_id_var.set(principal.merchant_id)


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk_...|pk_...``. Other bearer tokens are left to the next class."""

    def authenticate(self, request: Request):
        from merchants.selectors import principal_for_api_key
        from merchants.services import api_key_touch

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
