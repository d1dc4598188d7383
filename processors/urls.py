from django.urls import path

from .views import ProcessorWebhookView

urlpatterns = [
    path(
        "webhooks/processors/<str:processor_account_id>",
        ProcessorWebhookView.as_view(),
        name="processor-webhook",
    ),
]
