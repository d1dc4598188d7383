import pytest
import requests


def test_account_requires_key(api_client, db):
    response = api_client.get("/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.slow
def test_gunicorn_health(live_server_gunicorn):
    assert requests.get(f"{live_server_gunicorn}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{live_server_gunicorn}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
