"""Errors of the customers app that callers may catch (login and session authentication)."""

from rest_framework.exceptions import AuthenticationFailed

from gateway.errors import AUTHENTICATION, ApiError

INVALID_CREDENTIALS_MESSAGE = "Invalid email or password, or too many failed attempts. Try again later."


class InvalidCredentials(ApiError):
    """One error for unknown email, wrong password and locked account: nothing about the account leaks."""

    status_code = 401
    error_type = AUTHENTICATION
    code = "invalid_credentials"
    default_message = INVALID_CREDENTIALS_MESSAGE


class InvalidSessionToken(ApiError, AuthenticationFailed):
    """Rendered in the error shape as an ApiError; an AuthenticationFailed for DRF and the gateway
    view, so a bad token still spends a token of the client IP's rate-limit bucket."""

    status_code = 401
    error_type = AUTHENTICATION
    code = "invalid_session_token"
    default_message = "Invalid, expired or revoked customer session token."
