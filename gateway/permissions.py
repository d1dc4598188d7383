"""Who may call what. Secret keys do everything merchant-side; publishable keys only what a
browser or app may; customer session tokens only ``/v1/me...`` and logout."""

from rest_framework.permissions import BasePermission


class _KindPermission(BasePermission):
    allowed_kinds: tuple[str, ...] = ()
    message = "This endpoint requires a secret API key."

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        return principal is not None and getattr(principal, "kind", None) in self.allowed_kinds


class IsSecretKey(_KindPermission):
    allowed_kinds = ("secret",)


class IsPublishableKey(_KindPermission):
    """Endpoints a browser or app may call with the publishable key (secret keys too)."""

    allowed_kinds = ("publishable", "secret")
    message = "This endpoint requires a publishable or secret API key."


class IsCustomer(_KindPermission):
    allowed_kinds = ("customer",)
    message = "This endpoint requires a customer session token."


def principal_kinds(view) -> frozenset[str]:
    """The principal kinds (``secret``, ``publishable``, ``customer``) every permission of the view
    admits; empty for a view open to anyone (``AllowAny``): what its OpenAPI security lists."""
    kinds: set[str] | None = None
    for permission in view.get_permissions():
        allowed = getattr(permission, "allowed_kinds", None)
        if allowed is None:
            continue  # AllowAny or a permission not about the principal
        kinds = set(allowed) if kinds is None else kinds & set(allowed)
    return frozenset(kinds or ())
