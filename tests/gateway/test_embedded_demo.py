"""The README's first command: the gateway runs with no services at all (SQLite, local cache, eager tasks)."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import REPO_ROOT, free_port


@pytest.mark.slow
def test_embedded_mode_serves_the_api_with_no_services(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="gateway_project.settings.base", SQLITE_PATH=str(tmp_path / "demo.sqlite3"))

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
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
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "runserver did not start"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {keys['secret_key']}"}
        account = requests.get(f"http://127.0.0.1:{port}/v1/account", headers=headers, timeout=5)
        assert account.status_code == 200 and account.json()["id"] == keys["merchant_id"]
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["checks"] == {"database": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=10)
