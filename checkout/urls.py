"""The hosted page (``/pay/...``); the API's routes are in ``urls_api.py`` (under ``/v1/``)."""

from django.urls import path

from .views import common, page

app_name = "checkout"

urlpatterns = [
    path("assets/<str:name>", common.asset, name="asset"),
    path("<str:session_id>", page.pay, name="pay"),
    path("<str:session_id>/return", page.payment_return, name="return"),
    path("<str:session_id>/status", page.status, name="status"),
    path("<str:session_id>/login", page.login, name="login"),
    path("<str:session_id>/logout", page.logout, name="logout"),
]
