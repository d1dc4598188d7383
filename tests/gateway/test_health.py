import pytest
import requests

from gateway_project.celery import app as celery_app
from tests.conftest import REQUEST_TIMEOUT_SECONDS

pytestmark = [pytest.mark.django_db]

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
    }
}


def test_healthz_answers_without_services(api_client, settings):
    settings.CACHES = DEAD_REDIS
    response = api_client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_ok_when_everything_answers(api_client):
    response = api_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


def test_readyz_names_redis_when_it_is_down(api_client, settings):
    settings.CACHES = DEAD_REDIS
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


def test_readyz_names_the_broker_when_it_is_down(api_client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


@pytest.mark.slow
def test_gunicorn_process_serves_health_over_http(live_server_gunicorn):
    assert requests.get(f"{live_server_gunicorn}/healthz", timeout=REQUEST_TIMEOUT_SECONDS).json() == {"status": "ok"}
    ready = requests.get(f"{live_server_gunicorn}/readyz", timeout=REQUEST_TIMEOUT_SECONDS)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    assert ready.headers["Request-Id"].startswith("req_")
