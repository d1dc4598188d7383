"""OpenAPI: every operation documents the error shape for the failures the gateway layer can
produce, and the Idempotency-Key header on POSTs. The security schemes are declared by the apps
that own the credentials (``merchants.schema``, ``customers.schema``)."""

import re

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .idempotency import MAX_KEY_LENGTH


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
    "414": "Request URL too long (refused by the HTTP server, in this same error shape).",
    "415": "Body is not JSON.",
    "429": "Rate limited; see Retry-After.",
    "431": "Request header fields too large, or too many (refused by the HTTP server, in this same error shape).",
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
                    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                    OpenApiParameter.HEADER,
                    description=f"1..{MAX_KEY_LENGTH} characters. Retries with the same key replay the first response.",
                )
            )
        return params

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        # Serializers that refuse parameters they do not declare (gateway.serializers.StrictSerializer
        # and the few that check by hand) say so, so clients and fuzzers know an extra field is a 400.
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema


_ACTION = re.compile(r"^(?P<detail>.*/\{(?P<param>[^}/]+)\})/[^/{}]+$")


def _object_of(path: str, paths: dict) -> tuple[str, str] | None:
    """(detail path, its id parameter) of the object a successful POST to ``path`` answers: a create
    (``/v1/things`` -> ``/v1/things/{thing_id}``) or an action on one (``/v1/things/{thing_id}/verb``)."""
    action = _ACTION.match(path)
    if action:
        return action["detail"], action["param"]
    for candidate in paths:
        created = re.fullmatch(re.escape(path) + r"/\{(?P<param>[^}/]+)\}", candidate)
        if created:
            return candidate, created["param"]
    return None


# Objects that another operation takes by id in its body: (creating operation, taking operation, field).
_BODY_LINKS = [
    ("payments_create", "refunds_create", "payment"),
    ("customers_create", "orders_create", "customer"),
    ("customers_create", "payments_create", "customer"),
    ("orders_create", "payments_create", "order"),
    ("orders_create", "checkout_sessions_create", "order"),
]


def links_postprocess(result, generator, request, public):
    """OpenAPI links from every POST that answers an object to the operations on that object (its
    retrieve, update, delete and actions), its id taken from the answer, and to the operations that
    take it in their body (``_BODY_LINKS``): clients see what comes next and stateful fuzzing
    (Schemathesis) reaches real objects. Registered in POSTPROCESSING_HOOKS."""
    paths = result["paths"]
    for path, item in paths.items():
        operation = item.get("post")
        found = _object_of(path, paths) if operation else None
        if found is None:
            continue
        detail, param = found
        links = {}
        for target_path, target_item in paths.items():
            if target_path != detail and not re.fullmatch(re.escape(detail) + r"/[^/{}]+", target_path):
                continue
            for method, target in target_item.items():
                if target is operation or "operationId" not in target:
                    continue
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {param: "$response.body#/id"},
                    "description": f"{method.upper()} {target_path} on the object answered.",
                }
        for status, response in operation["responses"].items():
            if status.startswith("2") and links:
                response["links"] = links
    operations = {op["operationId"]: op for item in paths.values() for op in item.values() if "operationId" in op}
    for source, target, field in _BODY_LINKS:
        if source not in operations or target not in operations:
            continue
        for status, response in operations[source]["responses"].items():
            if status.startswith("2"):
                response.setdefault("links", {})[f"{target}_{field}"] = {
                    "operationId": target,
                    "requestBody": {field: "$response.body#/id"},
                    "description": f"{target} with this object's id as `{field}`.",
                }
    return result
