"""Serializer pieces every app's API shares."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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


class StrictSerializer(serializers.Serializer):
    """Refuses parameters it does not declare, so ids, owners, timestamps or security fields
    cannot be mass-assigned, and a typo is an error instead of a silent no-op."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key not in writable:
                    raise serializers.ValidationError({key: "Received unknown parameter."}, code="unknown")
        return super().to_internal_value(data)
