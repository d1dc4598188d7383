from rest_framework import serializers

from gateway.serializers import MetadataField, StrictSerializer, deleted_object_serializer

from .models import E164_PATTERN, Customer

__all__ = ["MetadataField", "StrictSerializer"]


def phone_field() -> serializers.RegexField:
    return serializers.RegexField(
        E164_PATTERN,
        required=False,
        allow_blank=True,
        max_length=16,
        error_messages={"invalid": "Enter a phone number in E.164 format, e.g. +14155550123."},
    )


class CustomerCreateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone = phone_field()
    metadata = MetadataField(required=False)
    password = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, max_length=1024, style={"input_type": "password"}
    )


class CustomerUpdateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = phone_field()
    metadata = MetadataField(required=False)


class MeUpdateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = phone_field()


class _TimestampsMixin(serializers.Serializer):
    created = serializers.SerializerMethodField()
    updated = serializers.SerializerMethodField()

    def get_created(self, obj) -> int:
        return int(obj.created.timestamp())

    def get_updated(self, obj) -> int:
        return int(obj.updated.timestamp())


class CustomerSerializer(_TimestampsMixin, serializers.ModelSerializer):
    """The merchant's view of a customer. Never the password hash, lock state or sessions."""

    object = serializers.SerializerMethodField()
    metadata = MetadataField()
    deleted = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "object", "livemode", "email", "name", "phone", "metadata", "deleted", "created", "updated"]
        read_only_fields = fields

    def get_object(self, obj) -> str:
        return "customer"

    def get_deleted(self, obj) -> bool:
        return obj.is_erased


class MeSerializer(_TimestampsMixin, serializers.ModelSerializer):
    """The customer's own view: no merchant metadata."""

    object = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "object", "email", "name", "phone", "created", "updated"]
        read_only_fields = fields

    def get_object(self, obj) -> str:
        return "customer"


DeletedCustomerSerializer = deleted_object_serializer("customer", "DeletedCustomerSerializer")


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(trim_whitespace=False, max_length=1024, style={"input_type": "password"})


class CustomerSessionSerializer(serializers.Serializer):
    """The login answer; ``token`` is shown only here, once."""

    id = serializers.CharField()
    object = serializers.CharField(default="customer_session")
    token = serializers.CharField(help_text="Bearer token for /v1/me... and /v1/auth/logout (prefix cst_).")
    livemode = serializers.BooleanField()
    expires_at = serializers.IntegerField(help_text="Unix seconds.")
    customer = MeSerializer()


class LogoutSerializer(StrictSerializer):
    all = serializers.BooleanField(required=False, default=False, help_text="Revoke every session of the customer.")


class LogoutResultSerializer(serializers.Serializer):
    object = serializers.CharField(default="logout")
    revoked_sessions = serializers.IntegerField()


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(trim_whitespace=False, max_length=1024, style={"input_type": "password"})
    new_password = serializers.CharField(trim_whitespace=False, max_length=1024, style={"input_type": "password"})
