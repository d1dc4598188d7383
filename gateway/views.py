"""The base view every API endpoint uses: authentication, then the token bucket, then
permissions (so unauthenticated floods are limited per IP), then idempotency for POSTs."""

from rest_framework.exceptions import APIException, NotFound, Throttled
from rest_framework.views import APIView

from .errors import InvalidRequest
from .forwarded import client_ip
from .idempotency import idempotency_key_from, idempotent_execute
from .ratelimit import bucket_take


def _refuse_null_characters(request, kwargs) -> None:
    """PostgreSQL text cannot hold U+0000: such an id cannot exist (404), such a parameter is invalid (400)."""
    if any("\x00" in str(value) for value in kwargs.values()):
        raise NotFound()
    for name, values in request.query_params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            raise InvalidRequest(f"{name}: null characters are not allowed.", code="parameter_invalid", param=name)


class GatewayAPIView(APIView):
    # The kind of object a POST answers with, when a retry of a crashed request should answer with
    # that object's current state (``gateway.idempotency.idempotency_recovery_point``); None: such
    # a retry runs the request again.
    idempotency_answers: str | None = None
    # True for a view whose POST writes nothing durable before its recovery point and answers, on
    # success, with the recovered object's representation: its Idempotency-Key is claimed inside
    # the object's transaction and its answer stored with the settlement (``gateway.idempotency``).
    idempotency_claim_deferred = False

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        _refuse_null_characters(request, kwargs)
        try:
            principal, auth_error = request.auth, None
        except APIException as exc:
            # Bad credentials still spend a token of the client IP's bucket before the 401.
            principal, auth_error = None, exc
        self._rate_limit(request, principal)
        if auth_error is not None:
            raise auth_error
        self.check_permissions(request)

    def _rate_limit(self, request, principal) -> None:
        taken = getattr(request._request, "gateway_bucket_taken", None)
        if principal is not None and taken is not None and taken[0] == principal.rate_limit_key:
            # gateway.fastread took this principal's token already and handed the request over.
            result = taken[1]
        elif principal is not None:
            result = bucket_take(
                key=principal.rate_limit_key,
                rate=principal.rate_limit_per_second,
                burst=principal.rate_limit_burst,
            )
        else:
            result = bucket_take(key=f"ip:{client_ip(request)}")
        if result is None:
            return
        request._request.gateway_ratelimit_headers = result.headers()
        if not result.allowed:
            raise Throttled(wait=result.retry_after_seconds, detail="Too many requests; slow down.")

    def dispatch(self, request, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            handler = getattr(self, request.method.lower(), None)
            if request.method.lower() not in self.http_method_names or handler is None:
                handler = self.http_method_not_allowed
            key = idempotency_key_from(request) if request.method == "POST" else None
            if key is not None and handler != self.http_method_not_allowed:
                return idempotent_execute(
                    request=request,
                    principal=request.auth,
                    key=key,
                    execute=lambda: self._execute(handler, request, *args, **kwargs),
                    answers=self.idempotency_answers,
                    deferred=self.idempotency_claim_deferred,
                )
            response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _execute(self, handler, request, *args, **kwargs):
        try:
            response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        response = self.finalize_response(request, response, *args, **kwargs)
        response.render()
        return response
