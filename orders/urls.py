from django.urls import path

from .views import MyOrderDetailView, MyOrdersView, OrderCancelView, OrderDetailView, OrderFulfillView, OrdersView

urlpatterns = [
    path("orders", OrdersView.as_view(), name="orders"),
    path("orders/<str:order_id>", OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:order_id>/cancel", OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<str:order_id>/fulfill", OrderFulfillView.as_view(), name="order-fulfill"),
    path("me/orders", MyOrdersView.as_view(), name="me-orders"),
    path("me/orders/<str:order_id>", MyOrderDetailView.as_view(), name="me-order-detail"),
]
