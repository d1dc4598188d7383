from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from audit.admin_login import admin_login
from gateway import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/login/", admin_login, name="admin_login"),  # before the admin: its sign-in, throttled
    path("admin/", admin.site.urls),
    path("v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularRedocView.as_view(url_name="openapi"), name="docs"),
    path("v1/", include("merchants.urls")),
    path("v1/", include("customers.urls")),
    path("v1/", include("orders.urls")),
    path("v1/", include("payments.urls")),
    path("v1/", include("events.urls")),
    path("v1/", include("processors.urls")),
    path("v1/", include("checkout.urls_api")),
    path("v1/", include("disputes.urls")),
    path("pay/", include("checkout.urls")),
    path("sandbox/", include("sandbox.urls")),
]

handler400 = "gateway.errors.handler400"
handler403 = "gateway.errors.handler403"
handler404 = "gateway.errors.handler404"
handler500 = "gateway.errors.handler500"
