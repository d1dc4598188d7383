from django.urls import path

from . import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="events-list"),
    path("events/<str:event_id>", views.EventDetailView.as_view(), name="events-detail"),
    path("events/<str:event_id>/resend", views.EventResendView.as_view(), name="events-resend"),
    path("webhook_endpoints", views.WebhookEndpointListView.as_view(), name="webhook-endpoints-list"),
    path(
        "webhook_endpoints/<str:endpoint_id>",
        views.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoints-detail",
    ),
    path(
        "webhook_endpoints/<str:endpoint_id>/rotate_secret",
        views.WebhookEndpointRotateSecretView.as_view(),
        name="webhook-endpoints-rotate-secret",
    ),
]
