from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from gateway.views import GatewayAPIView

from .selectors import merchant_get
from .serializers import AccountSerializer


class AccountView(GatewayAPIView):
    @extend_schema(operation_id="account_retrieve", responses=AccountSerializer, tags=["account"])
    def get(self, request):
        return Response(AccountSerializer(merchant_get(merchant_id=request.auth.merchant_id)).data)
