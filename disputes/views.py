from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from gateway.pagination import LIST_PARAMETERS, paginate
from gateway.views import GatewayAPIView

from . import selectors
from .serializers import DisputeListSerializer, DisputeSerializer, dispute_data
from .state import DISPUTE_STATUSES

TAGS = ["disputes"]


class DisputeListView(GatewayAPIView):
    @extend_schema(
        operation_id="disputes_list",
        summary="List disputes",
        description="Disputes (chargebacks and inquiries) on this merchant's payments, newest first.",
        parameters=[
            OpenApiParameter("payment", str, description="Only this payment's disputes."),
            OpenApiParameter("status", str, enum=list(DISPUTE_STATUSES), description="Only disputes in this status."),
            *LIST_PARAMETERS,
        ],
        responses=DisputeListSerializer,
        tags=TAGS,
    )
    def get(self, request):
        queryset = selectors.dispute_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            payment_id=request.query_params.get("payment") or None,
            status=request.query_params.get("status"),  # empty is not absent: refused (400)
        )
        return Response(
            paginate(
                queryset=queryset, params=request.query_params, serialize=lambda page: [dispute_data(d) for d in page]
            )
        )


class DisputeDetailView(GatewayAPIView):
    @extend_schema(
        operation_id="disputes_retrieve", summary="Retrieve a dispute", responses=DisputeSerializer, tags=TAGS
    )
    def get(self, request, dispute_id: str):
        dispute = selectors.dispute_get(
            merchant_id=request.auth.merchant_id, dispute_id=dispute_id, livemode=request.auth.livemode
        )
        return Response(dispute_data(dispute))
