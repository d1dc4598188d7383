import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from events.models import Delivery, DeliveryAttempt
from events.services import event_deliveries_create

from .factories import FACTORY_SECRET, EventFactory, WebhookEndpointFactory


@pytest.fixture
def admin_client_logged_in(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-admin-password")
    client.force_login(user)
    return client


def test_endpoint_admin_never_shows_the_secret(admin_client_logged_in):
    endpoint = WebhookEndpointFactory()
    for url in (
        reverse("admin:events_webhookendpoint_changelist"),
        reverse("admin:events_webhookendpoint_change", args=[endpoint.id]),
    ):
        page = admin_client_logged_in.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert endpoint.id in html
        assert FACTORY_SECRET not in html and endpoint.secret_encrypted not in html


def test_delivery_admin_shows_attempts_and_resends(admin_client_logged_in):
    endpoint = WebhookEndpointFactory()
    event = EventFactory(merchant=endpoint.merchant)
    [delivery_id] = event_deliveries_create(event_id=event.id)
    DeliveryAttempt.objects.create(
        merchant=endpoint.merchant,
        delivery_id=delivery_id,
        number=1,
        attempted_at=event.created,
        status_code=503,
        latency_ms=12,
        error="",
        response_body="upstream down",
        url=endpoint.url,
    )
    page = admin_client_logged_in.get(reverse("admin:events_delivery_change", args=[delivery_id]))
    assert page.status_code == 200
    assert "upstream down" in page.content.decode() and "503" in page.content.decode()
    assert admin_client_logged_in.get(reverse("admin:events_event_change", args=[event.id])).status_code == 200
    response = admin_client_logged_in.post(
        reverse("admin:events_delivery_changelist"), {"action": "resend", "_selected_action": [delivery_id]}
    )
    assert response.status_code == 302
    resent = Delivery.objects.get(is_resend=True)
    assert (resent.event_id, resent.endpoint_id, resent.status) == (event.id, endpoint.id, "pending")
    admin_client_logged_in.post(
        reverse("admin:events_event_changelist"),
        {"action": "resend_to_subscribed_endpoints", "_selected_action": [event.id]},
    )
    assert Delivery.objects.filter(is_resend=True).count() == 2
