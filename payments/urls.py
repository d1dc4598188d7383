from django.urls import path

from . import views
from .views import tokenization as views_tokenization

urlpatterns = [
    path("payments", views.PaymentsView.as_view(), name="payments"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<str:payment_id>/confirm", views.PaymentConfirmView.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", views.PaymentCaptureView.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", views.PaymentCancelView.as_view(), name="payment-cancel"),
    path("payments/<str:payment_id>/return", views.PaymentReturnView.as_view(), name="payment-return"),
    path("payment_methods", views_tokenization.PaymentMethodsView.as_view(), name="payment-methods"),
    path("refunds", views.RefundsView.as_view(), name="refunds"),
    path("refunds/<str:refund_id>", views.RefundDetailView.as_view(), name="refund-detail"),
    path("me/payments", views.MyPaymentsView.as_view(), name="me-payments"),
    path("me/payment_methods", views.MyPaymentMethodsView.as_view(), name="me-payment-methods"),
    path(
        "me/payment_methods/<str:payment_method_id>",
        views.MyPaymentMethodDetailView.as_view(),
        name="me-payment-method-detail",
    ),
]
