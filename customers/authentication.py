from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from gateway.authentication import bearer_token, principal_attach

from .tokens import SESSION_TOKEN_PREFIX


class CustomerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer cst_...``: a customer session opened by ``POST /v1/auth/login``.

    The principal carries the customer and session ids; permission classes keep it to
    ``/v1/me...`` and logout (``gateway.permissions.IsCustomer``).
    """

    def authenticate(self, request: Request):
        # Imported here: DRF loads this module (settings) while gateway.errors is still importing
        # DRF, before the app registry is ready for the models behind the selectors.
        from .errors import InvalidSessionToken
        from .selectors import principal_for_session_token

        token = bearer_token(request)
        if token is None or not token.startswith(SESSION_TOKEN_PREFIX):
            return None
        principal = principal_for_session_token(raw_token=token)
        if principal is None:
            raise InvalidSessionToken(headers={"WWW-Authenticate": self.authenticate_header(request)})
        principal_attach(request, principal)
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'
