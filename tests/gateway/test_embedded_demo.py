"""The README's first command: the gateway runs with no services at all (SQLite, local cache, eager tasks)."""

import json
import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO_ROOT, REQUEST_TIMEOUT_SECONDS, free_port, wait_for_http

CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}


@pytest.mark.slow
def test_embedded_mode_serves_the_api_with_no_services(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="gateway_project.settings.base", SQLITE_PATH=str(tmp_path / "demo.sqlite3"))

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("migrate", "--noinput", "-v0")
    keys = json.loads(manage("create_merchant", "--name", "Demo", "--json"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", server, lambda: "runserver did not start")
        headers = {"Authorization": f"Bearer {keys['secret_key']}"}
        account = requests.get(f"http://127.0.0.1:{port}/v1/account", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        assert account.status_code == 200 and account.json()["id"] == keys["merchant_id"]
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=REQUEST_TIMEOUT_SECONDS)
        assert ready.json()["checks"] == {"database": "ok"}
        # A card payment, created and confirmed: the hot path's statements (gateway.statements) on SQLite.
        paid = requests.post(
            f"http://127.0.0.1:{port}/v1/payments",
            headers=headers | {"Idempotency-Key": "demo-1"},
            json={"amount": 1999, "currency": "usd", "confirm": True, "payment_method": CARD},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
        read = requests.get(
            f"http://127.0.0.1:{port}/v1/payments/{paid.json()['id']}", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
        )
        assert read.json()["amount_received"] == 1999
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
