"""The gateway's WSGI application plus ``GET /bench/bare``: a bare Django view returning a constant
JSON body (no DRF, no authentication, no database), served by the same gunicorn in the same run,
as the yardstick for ``GET /v1/payments/{id}`` (bench/run.py)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import include, path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings.production")

_BODY = b'{"id":"pay_bench","object":"payment","status":"succeeded"}'


def bare(request):
    return HttpResponse(_BODY, content_type="application/json")


application = get_wsgi_application()  # django.setup() first: the gateway's urls import the admin
urlpatterns = [path("bench/bare", bare), path("", include(settings.ROOT_URLCONF))]
settings.ROOT_URLCONF = __name__
