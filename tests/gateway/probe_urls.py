"""Probe endpoints used only by the gateway-layer tests: they exercise the real base view,
error handler, idempotency and pagination exactly as app endpoints do."""

import time

from django.core.cache import cache
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response

from gateway.errors import Conflict
from gateway.pagination import paginate
from gateway.permissions import IsPublishableKey
from gateway.views import GatewayAPIView
from merchants.models import ApiKey


class ProbeInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    note = serializers.CharField(required=False, max_length=20)
    lines = serializers.ListField(child=serializers.DictField(), required=False)


class ProbeCreateView(GatewayAPIView):
    """Counts executions in Redis so tests can prove a handler ran exactly once."""

    def post(self, request):
        data = ProbeInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = cache.incr("probe-executions") if cache.get("probe-executions") is not None else None
        if count is None:
            cache.set("probe-executions", 1, timeout=None)
            count = 1
        time.sleep(float(request.query_params.get("sleep", 0)))
        if data.validated_data.get("note") == "conflict":
            raise Conflict("Probe conflict.", code="probe_conflict")
        return Response({"object": "probe", "amount": data.validated_data["amount"], "execution": count}, status=201)


class ProbeCrashView(GatewayAPIView):
    def get(self, request):
        raise RuntimeError("secret internal detail sk_test_leak")


class ProbeDatabaseErrorView(GatewayAPIView):
    def get(self, request):
        from django.db import DataError

        raise DataError("LINE 1: ...VALUES ('leak@example.com', 'Leaky Name'...")


class ProbePublishableView(GatewayAPIView):
    permission_classes = [IsPublishableKey]

    def get(self, request):
        return Response({"kind": request.auth.kind})


class ProbeListView(GatewayAPIView):
    def get(self, request):
        queryset = ApiKey.objects.filter(merchant_id=request.auth.merchant_id)
        return Response(
            paginate(
                queryset=queryset,
                params=request.query_params,
                serialize=lambda page: [{"id": key.id} for key in page],
            )
        )


urlpatterns = [
    path("v1/probe", ProbeCreateView.as_view()),
    path("v1/probe/crash", ProbeCrashView.as_view()),
    path("v1/probe/publishable", ProbePublishableView.as_view()),
    path("v1/probe/dberror", ProbeDatabaseErrorView.as_view()),
    path("v1/probe/list", ProbeListView.as_view()),
    path("", include("gateway_project.urls")),
]

from gateway_project.urls import handler400, handler403, handler404, handler500  # noqa: E402,F401
