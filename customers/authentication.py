from rest_framework.authentication import BaseAuthentication


class CustomerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer cst_...`` customer session tokens (implemented by the customers issue)."""

    def authenticate(self, request):
        return None
