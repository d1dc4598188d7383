"""What every authentication class shares: reading the bearer token, resolving it, attaching the
principal. The classes themselves live with the credentials they check:
``merchants.authentication.ApiKeyAuthentication`` (``sk_``/``pk_``) and
``customers.authentication.CustomerTokenAuthentication`` (``cst_``)."""

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from gateway.context import merchant_id_var
from gateway.principal import Principal


def bearer_token(request: Request | HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_attach(request: Request, principal: Principal) -> None:
    """Expose the principal to middleware (logging) and log context."""
    principal_attach_http(request._request, principal)


def principal_attach_http(request: HttpRequest, principal: Principal) -> None:
    """``principal_attach`` for a request answered without DRF (``gateway.fastread``)."""
    request.gateway_principal = principal
    merchant_id_var.set(principal.merchant_id)


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` for tokens starting with one of ``prefixes``; other bearer
    tokens are left to the next class. Subclasses resolve the token to a principal."""

    prefixes: tuple[str, ...] = ()

    def principal_for(self, token: str) -> Principal | None:
        """The caller the token stands for, or None when it is unknown, revoked or expired."""
        raise NotImplementedError

    def invalid(self, request: Request) -> APIException:
        """The 401 for a token of this kind that resolves to nobody."""
        raise NotImplementedError

    def authenticate(self, request: Request):
        token = bearer_token(request)
        if token is None or not token.startswith(self.prefixes):
            return None
        principal = self.principal_for(token)
        if principal is None:
            raise self.invalid(request)
        principal_attach(request, principal)
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'
