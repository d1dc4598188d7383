"""Wire shape of a dispute (``GET /v1/disputes``, ``/v1/disputes/{id}``, the ``dispute.*`` events)."""

from typing import Any

from rest_framework import serializers

from gateway.serializers import MinorUnitsField

from .models import Dispute
from .state import DISPUTE_STATUSES


def _unix(value) -> int | None:
    return int(value.timestamp()) if value else None


def dispute_data(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "object": "dispute",
        "livemode": dispute.livemode,
        "payment": dispute.payment_id,
        "order": dispute.order_id or None,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "fee": dispute.fee,
        "fee_returned": dispute.fee_returned,
        "reason": dispute.reason,
        "status": dispute.status,
        "evidence_due_by": _unix(dispute.evidence_due_by),
        "processor": dispute.processor,
        "processor_reference": dispute.processor_reference,
        "funds_withdrawn": dispute.funds_withdrawn_at is not None,
        "funds_reinstated": dispute.funds_reinstated_at is not None,
        "closed_at": _unix(dispute.closed_at),
        "created": _unix(dispute.created),
        "updated": _unix(dispute.updated),
    }


class DisputeSerializer(serializers.Serializer):
    """For the OpenAPI document; responses are built by ``dispute_data``."""

    id = serializers.CharField()
    object = serializers.CharField(default="dispute")
    livemode = serializers.BooleanField()
    payment = serializers.CharField()
    order = serializers.CharField(allow_null=True)
    amount = MinorUnitsField(help_text="Disputed amount.")
    currency = serializers.CharField()
    fee = MinorUnitsField(help_text="The processor's dispute fee, withdrawn with the amount.")
    fee_returned = MinorUnitsField()
    reason = serializers.CharField(help_text="The processor's reason, e.g. fraudulent, product_not_received.")
    status = serializers.ChoiceField(choices=[(s, s) for s in DISPUTE_STATUSES])
    evidence_due_by = serializers.IntegerField(allow_null=True, help_text="Unix seconds; respond before.")
    processor = serializers.CharField()
    processor_reference = serializers.CharField()
    funds_withdrawn = serializers.BooleanField()
    funds_reinstated = serializers.BooleanField()
    closed_at = serializers.IntegerField(allow_null=True)
    created = serializers.IntegerField()
    updated = serializers.IntegerField()

    def to_representation(self, instance):
        return dispute_data(instance)


class DisputeListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = DisputeSerializer(many=True)
    has_more = serializers.BooleanField()
