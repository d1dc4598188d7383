from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("3ds/<str:charge_id>", views.three_d_secure, name="three_d_secure"),
    path("paypal/<str:charge_id>", views.paypal, name="paypal"),
]
