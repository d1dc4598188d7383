"""The one error shape: ``{"error": {"type", "code", "message", "param", "request_id"}}``.

Every failure goes through here: API exceptions raised by services, DRF's own exceptions
(validation, parse, 401/403/404/405/415/429), Django's handlers for paths outside DRF, and
unexpected exceptions (500, no internals).
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .context import current_request_id

logger = logging.getLogger("gateway.errors")

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
PERMISSION = "permission_error"
RATE_LIMIT = "rate_limit_error"
IDEMPOTENCY = "idempotency_error"
CARD = "card_error"
API = "api_error"


class ApiError(Exception):
    """An error a service raises on purpose; rendered in the error shape."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_type = INVALID_REQUEST
    code = "invalid_request"
    default_message = "The request was invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        status_code: int | None = None,
        error_type: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.message = message or self.default_message
        self.code = code or self.code
        self.param = param
        self.status_code = status_code or self.status_code
        self.error_type = error_type or self.error_type
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidRequest(ApiError):
    pass


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "resource_missing"
    default_message = "No such object."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    error_type = API
    code = "service_unavailable"


def not_found(object_name: str, object_id: str, param: str | None = "id") -> NotFound:
    return NotFound(f"No such {object_name}: '{object_id}'", param=param)


def error_body(
    *,
    error_type: str,
    code: str,
    message: str,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = {"type": error_type, "code": code, "message": message, "param": param}
    if extra:
        body.update(extra)
    body["request_id"] = current_request_id()
    return {"error": body}


def _first_validation_error(detail: Any, path: str = "") -> tuple[str | None, str, str]:
    """Flatten DRF's nested error detail to (param, message, code) of the first failure.

    Params use dotted paths with list indexes: ``lines[1].quantity``.
    """
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_validation_error(value, path)
            if isinstance(key, int) or str(key).isdigit():
                return _first_validation_error(value, f"{path}[{key}]")
            return _first_validation_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                if value:
                    return _first_validation_error(value, f"{path}[{index}]")
                continue
            return _first_validation_error(value, path)
    code = getattr(detail, "code", None) or "invalid"
    return (path or None), str(detail), code


_VALIDATION_CODES = {
    "required": "parameter_missing",
    "null": "parameter_missing",
    "blank": "parameter_missing",
    "parameter_unknown": "parameter_unknown",  # gateway.serializers.StrictSerializer (payments API)
}


def _drf_error(exc: drf_exceptions.APIException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, drf_exceptions.ValidationError):
        param, message, code = _first_validation_error(exc.detail)
        if param and not message.lower().startswith(param.lower()):
            message = f"{param}: {message}"
        return 400, error_body(
            error_type=INVALID_REQUEST,
            code=_VALIDATION_CODES.get(code, "parameter_invalid"),
            message=message,
            param=param,
        )
    mapping: dict[type, tuple[str, str]] = {
        drf_exceptions.ParseError: (INVALID_REQUEST, "malformed_json"),
        drf_exceptions.AuthenticationFailed: (AUTHENTICATION, "invalid_api_key"),
        drf_exceptions.NotAuthenticated: (AUTHENTICATION, "missing_api_key"),
        drf_exceptions.PermissionDenied: (PERMISSION, "permission_denied"),
        drf_exceptions.NotFound: (INVALID_REQUEST, "resource_missing"),
        drf_exceptions.MethodNotAllowed: (INVALID_REQUEST, "method_not_allowed"),
        drf_exceptions.NotAcceptable: (INVALID_REQUEST, "not_acceptable"),
        drf_exceptions.UnsupportedMediaType: (INVALID_REQUEST, "unsupported_media_type"),
        drf_exceptions.Throttled: (RATE_LIMIT, "rate_limited"),
    }
    error_type, code = API, "api_error"
    for cls, pair in mapping.items():
        if isinstance(exc, cls):
            error_type, code = pair
            break
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if isinstance(exc, drf_exceptions.ParseError):
        message = "Request body is not valid JSON."
    return exc.status_code, error_body(error_type=error_type, code=code, message=str(message))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    request = context.get("request")
    if isinstance(exc, ApiError):
        status_code = exc.status_code
        body = error_body(
            error_type=exc.error_type, code=exc.code, message=exc.message, param=exc.param, extra=exc.extra
        )
        headers.update(exc.headers)
    elif isinstance(exc, RequestDataTooBig):
        status_code, body = 413, _too_large_body()
    elif isinstance(exc, (Http404, drf_exceptions.NotFound)):
        status_code = 404
        body = error_body(error_type=INVALID_REQUEST, code="resource_missing", message="No such object.")
    elif isinstance(exc, PermissionDenied):
        status_code = 403
        body = error_body(error_type=PERMISSION, code="permission_denied", message="Permission denied.")
    elif isinstance(exc, drf_exceptions.APIException):
        status_code, body = _drf_error(exc)
        refused_before_executing = (
            drf_exceptions.ValidationError,
            drf_exceptions.ParseError,
            drf_exceptions.UnsupportedMediaType,
        )
        if isinstance(exc, refused_before_executing) and request is not None:
            # The body was refused before execution: the idempotency layer releases the key.
            request._request.gateway_validation_failed = True
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, DatabaseError):
        # No traceback: database messages quote the statement, and with it customers' personal data.
        logger.error(
            "unhandled database error",
            extra={
                "exc_class": type(exc).__name__,
                "sqlstate": getattr(getattr(exc, "__cause__", None), "sqlstate", None),
            },
        )
        status_code = 500
        body = error_body(error_type=API, code="internal_error", message="An unexpected error occurred.")
    else:
        logger.exception("unhandled exception", extra={"exc_class": type(exc).__name__})
        status_code = 500
        body = error_body(error_type=API, code="internal_error", message="An unexpected error occurred.")
    set_rollback()
    return Response(body, status=status_code, headers=headers)


def _too_large_body() -> dict[str, Any]:
    return error_body(error_type=INVALID_REQUEST, code="request_too_large", message="Request body exceeds 1 MiB.")


def json_error(status_code: int, *, error_type: str, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(error_type=error_type, code=code, message=message), status=status_code)


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(_too_large_body(), status=413)
    return json_error(400, error_type=INVALID_REQUEST, code="bad_request", message="Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, error_type=PERMISSION, code="permission_denied", message="Permission denied.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(
        404, error_type=INVALID_REQUEST, code="resource_missing", message=f"Unrecognized request URL: {request.path}"
    )


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(500, error_type=API, code="internal_error", message="An unexpected error occurred.")
