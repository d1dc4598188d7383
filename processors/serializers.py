from rest_framework import serializers


class WebhookReceiptSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    event = serializers.CharField(help_text="Our id of the stored processor event (pwe_...).")
