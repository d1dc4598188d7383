"""OpenAPI: every operation documents the error shape for the failures the gateway layer can
produce, and the Idempotency-Key header on POSTs. The security schemes are declared by the apps
that own the credentials (``merchants.schema``, ``customers.schema``)."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "rate_limit_error",
            "idempotency_error",
            "card_error",
            "api_error",
        ]
    )
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    decline_code = serializers.CharField(required=False, allow_null=True)
    request_id = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_COMMON_ERRORS = {
    "400": "Invalid request (validation, malformed JSON).",
    "401": "Missing, invalid or revoked credentials.",
    "403": "The credentials may not call this endpoint.",
    "413": "Request body over 1 MiB.",
    "415": "Body is not JSON.",
    "429": "Rate limited; see Retry-After.",
    "500": "Unexpected error (no internals disclosed).",
}
_POST_ERRORS = {
    "409": "Conflict: the object's state forbids this, or the Idempotency-Key is in use.",
    "422": "Idempotency-Key reused with different parameters.",
}
_DETAIL_ERRORS = {"404": "No such object (or it belongs to another merchant)."}


class GatewayAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(_COMMON_ERRORS)
        if self.method in ("POST", "PATCH", "DELETE"):
            errors.update(_POST_ERRORS)
        if "{" in self.path or self.method != "GET":
            errors.update(_DETAIL_ERRORS)
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(response=ErrorSerializer, description=description), code, direction=direction
                )
        return responses

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    description="1..255 characters. Retries with the same key replay the first response.",
                )
            )
        return params
