"""What every authentication class shares: reading the bearer token and attaching the resolved
principal. The classes themselves live with the credentials they check:
``merchants.authentication.ApiKeyAuthentication`` (``sk_``/``pk_``) and
``customers.authentication.CustomerTokenAuthentication`` (``cst_``)."""

from rest_framework.request import Request

from gateway.context import merchant_id_var
from gateway.principal import Principal


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
