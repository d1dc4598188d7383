from django.urls import path

from .views import api

urlpatterns = [
    path("checkout/sessions", api.CheckoutSessionsView.as_view(), name="checkout-sessions"),
    path("checkout/sessions/<str:session_id>", api.CheckoutSessionDetailView.as_view(), name="checkout-session-detail"),
    path(
        "checkout/sessions/<str:session_id>/expire",
        api.CheckoutSessionExpireView.as_view(),
        name="checkout-session-expire",
    ),
]
