import base64
import os

from django.conf import settings
from django.core.management import call_command

from events.models import WebhookEndpoint
from events.signing import secret_open
from gateway import crypto
from gateway_project.celery import app

from .factories import FACTORY_SECRET, WebhookEndpointFactory


def test_the_sweep_is_a_periodic_task_every_30_to_60_seconds():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "events.tasks.deliveries_sweep"]
    assert len(entries) == 1 and 30 <= entries[0]["schedule"] <= 60


def test_the_tasks_are_registered_and_acked_late():
    app.loader.import_default_modules()
    for name in (
        "events.tasks.deliveries_sweep",
        "events.tasks.delivery_attempt",
        "events.tasks.event_deliveries_create",
    ):
        assert app.tasks[name].acks_late is True


def test_secrets_are_reencrypted_under_a_new_key(db, settings):
    def key(kid):
        return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    first = key("k1")
    settings.ENCRYPTION_KEYS = [first]
    endpoint = WebhookEndpointFactory()
    assert crypto.token_kid(endpoint.secret_encrypted) == "k1"
    settings.ENCRYPTION_KEYS = [first, key("k2")]
    call_command("webhook_secrets_reencrypt")
    endpoint = WebhookEndpoint.objects.get(id=endpoint.id)
    assert crypto.token_kid(endpoint.secret_encrypted) == "k2"
    assert secret_open(endpoint.secret_encrypted) == FACTORY_SECRET
