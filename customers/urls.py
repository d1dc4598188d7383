from django.urls import path

from . import views

urlpatterns = [
    path("customers", views.CustomerListCreateView.as_view(), name="customers"),
    path("customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customer"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/password", views.MePasswordView.as_view(), name="me-password"),
]
