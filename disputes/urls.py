from django.urls import path

from .views import DisputeDetailView, DisputeListView

urlpatterns = [
    path("disputes", DisputeListView.as_view(), name="dispute-list"),
    path("disputes/<str:dispute_id>", DisputeDetailView.as_view(), name="dispute-detail"),
]
