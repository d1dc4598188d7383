"""The gateway's WSGI application plus two yardsticks served by the same gunicorn in the same run
(bench/run.py):

- ``GET /bench/bare``: a bare Django view returning a constant JSON body (no DRF, no
  authentication, no database), for ``GET /v1/payments/{id}``;
- ``POST /bench/floor``: the floor of create+confirm in this stack. The gateway's middleware and
  base view (API-key authentication, the token bucket, DRF's parsing, rendering and error
  handling) around only the raw-SQL baseline's writes in the gateway's three durable
  transactions (``bench/baseline_app.py``), through Django's connection. No validation, no
  idempotency layer, no routing, processor, ledger or events: what the framework and the
  required commits cost before any payment logic runs.
"""

import os
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.response import Response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings.production")

_BODY = b'{"id":"pay_bench","object":"payment","status":"succeeded"}'


def bare(request):
    return HttpResponse(_BODY, content_type="application/json")


application = get_wsgi_application()  # django.setup() first: the gateway's urls import the admin

from bench.baseline_app import create_confirm  # noqa: E402
from gateway.views import GatewayAPIView  # noqa: E402


@contextmanager
def _durable_transaction():
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        yield cursor


class FloorView(GatewayAPIView):
    def dispatch(self, request, *args, **kwargs):
        # The key goes to the baseline's own table, as the baseline writes it, not to the
        # gateway's idempotency layer (which the floor leaves out).
        request.META["BENCH_KEY"] = request.META.pop("HTTP_IDEMPOTENCY_KEY", None) or uuid.uuid4().hex
        return super().dispatch(request, *args, **kwargs)

    def post(self, request):
        data = request.data
        out = create_confirm(
            _durable_transaction,
            key=request.META["BENCH_KEY"],
            amount=data.get("amount", 0),
            currency=data.get("currency", "usd"),
            steps=3,
        )
        return Response(out, status=201)


urlpatterns = [
    path("bench/bare", bare),
    path("bench/floor", FloorView.as_view()),
    path("", include(settings.ROOT_URLCONF)),
]
settings.ROOT_URLCONF = __name__
