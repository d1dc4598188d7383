from gateway.authentication import BearerTokenAuthentication
from gateway.principal import Principal

from .tokens import SESSION_TOKEN_PREFIX


class CustomerTokenAuthentication(BearerTokenAuthentication):
    """``Authorization: Bearer cst_...``: a customer session opened by ``POST /v1/auth/login``.

    The principal carries the customer and session ids; permission classes keep it to
    ``/v1/me...`` and logout (``gateway.permissions.IsCustomer``).
    """

    prefixes = (SESSION_TOKEN_PREFIX,)

    def principal_for(self, token: str) -> Principal | None:
        # Imported here: DRF loads this module (settings) while gateway.errors is still importing
        # DRF, before the app registry is ready for the models behind the selectors.
        from .selectors import principal_for_session_token

        return principal_for_session_token(raw_token=token)

    def invalid(self, request):
        from .errors import InvalidSessionToken

        return InvalidSessionToken(headers={"WWW-Authenticate": self.authenticate_header(request)})
