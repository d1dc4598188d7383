"""Serializer pieces every app's API shares."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_LENGTH},
        "maxProperties": METADATA_MAX_KEYS,
        "description": (
            f"String map: at most {METADATA_MAX_KEYS} keys of 1..{METADATA_MAX_KEY_LENGTH} characters, "
            f"values up to {METADATA_MAX_VALUE_LENGTH} characters. Replaces the stored map."
        ),
    }
)
class MetadataField(serializers.Field):
    """Merchant-defined key/value strings (like Stripe's ``metadata``)."""

    default_error_messages = {
        "not_a_map": "metadata must be an object of string keys to string values.",
        "too_many_keys": f"metadata may have at most {METADATA_MAX_KEYS} keys.",
        "bad_key": f"metadata keys must be 1 to {METADATA_MAX_KEY_LENGTH} characters.",
        "bad_value": "metadata['{name}'] must be a string of at most " + f"{METADATA_MAX_VALUE_LENGTH} characters.",
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail in the database.
        "null_character": "metadata keys and values must not contain null characters.",
    }

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            self.fail("not_a_map")
        if len(data) > METADATA_MAX_KEYS:
            self.fail("too_many_keys")
        for key, value in data.items():
            if not isinstance(key, str) or not 1 <= len(key) <= METADATA_MAX_KEY_LENGTH:
                self.fail("bad_key")
            if not isinstance(value, str) or len(value) > METADATA_MAX_VALUE_LENGTH:
                self.fail("bad_value", name=key[:METADATA_MAX_KEY_LENGTH])
            if "\x00" in key or "\x00" in value:
                self.fail("null_character")
        return dict(data)

    def to_representation(self, value: dict[str, str]) -> dict[str, str]:
        return dict(value or {})


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^[A-Za-z]{3}$",
        "description": "ISO 4217 code (e.g. usd, EUR), any case; the processor's own currency rules apply.",
    }
)
class CurrencyField(serializers.CharField):
    """A three-letter ISO 4217 code as sent; whether it is a currency (and one the processor takes)
    is the service's check (``gateway.money.currency_validate``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)


@extend_schema_field(OpenApiTypes.INT64)
class MinorUnitsField(serializers.Field):
    """A JSON integer; strings, floats and booleans are refused (bounds are the service's job)."""

    default_error_messages = {"invalid": "Must be an integer in the currency's minor unit."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def refuse_non_strings(serializer: serializers.Serializer, data: Any) -> None:
    """DRF's CharField (and Email/URL/Regex fields) turns ``0`` into ``"0"``; the schema says string,
    so a number, list or object sent for one is a 400 naming the parameter."""
    if not isinstance(data, dict):
        return
    for name, field in serializer.fields.items():
        value = data.get(name)
        if isinstance(field, serializers.CharField) and value is not None and not isinstance(value, str):
            raise serializers.ValidationError({name: ErrorDetail("Must be a string.", code="invalid")})


class StrictSerializer(serializers.Serializer):
    """Refuses parameters it does not declare, so ids, owners, timestamps or security fields
    cannot be mass-assigned, and a typo is an error instead of a silent no-op; and strings that
    are not strings (``refuse_non_strings``).

    The refusal is a validation error (400, ``param`` = the parameter, nothing executed, so the
    idempotency layer keeps no key).
    """

    # The OpenAPI schema says so (``additionalProperties: false``; gateway.schema).
    refuses_unknown_fields = True

    # The error code of an unknown parameter. The payments API has answered Stripe's
    # ``parameter_unknown`` from the start, the customers and webhook-endpoint APIs
    # ``parameter_invalid``; each keeps its own so no client sees a code change.
    unknown_parameter_code = "parameter_invalid"

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key not in writable:
                    detail = ErrorDetail("Received unknown parameter.", code=self.unknown_parameter_code)
                    raise serializers.ValidationError({key: detail})
        refuse_non_strings(self, data)
        return super().to_internal_value(data)


def constant_field(value: str | bool, **kwargs) -> serializers.Field:
    """A field that is always ``value`` (an object's ``"object"`` name, ``deleted: true``): a one-value enum."""
    return serializers.ChoiceField(choices=[value], **kwargs)


def deleted_object_serializer(object_name: str, component_name: str) -> type[serializers.Serializer]:
    """The answer of a DELETE (200, like Stripe): ``{"id", "object": <name>, "deleted": true}``."""

    class DeletedSerializer(serializers.Serializer):
        id = serializers.CharField()
        object = constant_field(object_name)
        deleted = constant_field(True)

    DeletedSerializer.__name__ = DeletedSerializer.__qualname__ = component_name
    return DeletedSerializer
