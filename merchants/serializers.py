from rest_framework import serializers

from .models import Merchant


class AccountSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    rate_limit = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()

    class Meta:
        model = Merchant
        fields = ["id", "object", "name", "rate_limit", "created"]

    def get_object(self, obj) -> str:
        return "account"

    def get_rate_limit(self, obj) -> dict:
        from django.conf import settings

        return {
            "per_second": obj.rate_limit_per_second or settings.RATE_LIMIT_PER_SECOND,
            "burst": obj.rate_limit_burst or settings.RATE_LIMIT_BURST,
        }

    def get_created(self, obj) -> int:
        return int(obj.created.timestamp())
