import logging
import secrets
import time

from django.conf import settings

from .context import merchant_id_var, request_id_var
from .errors import json_error

logger = logging.getLogger("gateway.request")


class RequestContextMiddleware:
    """Request id and serving instance on every response, the 1 MiB body cap, rate-limit headers,
    ``Cache-Control: no-store`` by default,
    and one JSON access-log line (never the body) per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = "req_" + secrets.token_hex(12)
        request.request_id = request_id
        rid_token = request_id_var.set(request_id)
        mid_token = merchant_id_var.set(None)
        try:
            response = self._guarded(request)
            response["Request-Id"] = request_id
            response["Gateway-Instance"] = settings.GATEWAY_INSTANCE
            # Like Stripe's API: nothing is stored by a browser or proxy (answers carry secrets shown
            # once and personal data) unless the view opted in with its own Cache-Control.
            response.setdefault("Cache-Control", "no-store")
            for name, value in getattr(request, "gateway_ratelimit_headers", {}).items():
                response.setdefault(name, value)
            principal = getattr(request, "gateway_principal", None)
            logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "merchant_id": principal.merchant_id if principal else None,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(rid_token)
            merchant_id_var.reset(mid_token)

    def _guarded(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return json_error(
                413, error_type="invalid_request_error", code="request_too_large", message="Request body exceeds 1 MiB."
            )
        return self.get_response(request)
