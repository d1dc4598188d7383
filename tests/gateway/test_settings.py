"""Configuration comes from the environment: embedded default, production refusals, deploy checks."""

import json
import os
import secrets
import subprocess
import sys
from base64 import urlsafe_b64encode

import pytest

from tests.conftest import REPO_ROOT


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_embedded_mode_without_service_urls(tmp_path):
    result = run_python(
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'],"
        " s.CELERY_TASK_ALWAYS_EAGER, s.EMBEDDED_MODE]))",
        DJANGO_SETTINGS_MODULE="gateway_project.settings.base",
        SQLITE_PATH=str(tmp_path / "demo.sqlite3"),
    )
    assert result.returncode == 0, result.stderr
    engine, cache_backend, eager, embedded = json.loads(result.stdout.strip().splitlines()[-1])
    assert engine == "django.db.backends.sqlite3"
    assert cache_backend.endswith("LocMemCache")
    assert eager is True and embedded is True
    assert result.stderr.count("Embedded mode") == 1


def test_service_urls_switch_to_postgres_and_redis():
    result = run_python(
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], s.EMBEDDED_MODE]))",
        DJANGO_SETTINGS_MODULE="gateway_project.settings.base",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/gateway",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    engine, cache_backend, embedded = json.loads(result.stdout.strip().splitlines()[-1])
    assert engine == "django.db.backends.postgresql"
    assert cache_backend == "django_redis.cache.RedisCache"
    assert embedded is False
    assert "Embedded mode" not in result.stderr


@pytest.mark.parametrize("secret", [None, "short", "django-insecure-embedded-mode-only-never-use-in-production"])
def test_production_refuses_to_start_without_a_real_secret_key(secret):
    env = {"DJANGO_SETTINGS_MODULE": "gateway_project.settings.production"}
    if secret:
        env["SECRET_KEY"] = secret
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_vault_keys():
    result = run_manage(
        "check", DJANGO_SETTINGS_MODULE="gateway_project.settings.production", SECRET_KEY=secrets.token_urlsafe(64)
    )
    assert result.returncode != 0
    assert "ENCRYPTION_KEYS must be set" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="gateway_project.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/gateway",
        REDIS_URL="redis://127.0.0.1:6379/0",
        ALLOWED_HOSTS="gateway.example.com",
        ENCRYPTION_KEYS="k1:" + urlsafe_b64encode(os.urandom(32)).decode(),
        HMAC_KEY=secrets.token_urlsafe(48),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


_PREPARED_AFTER_SIX_RUNS = (
    "import django, json; django.setup(); from django.db import connection;"
    "[connection.cursor().execute('SELECT count(*) FROM pg_class WHERE relname = %s', ['pg_type']) for _ in range(6)];"
    "c = connection.cursor(); c.execute('SELECT count(*) FROM pg_prepared_statements');"
    "print(json.dumps([c.fetchone()[0], connection.settings_dict['DISABLE_SERVER_SIDE_CURSORS']]))"
)


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [("0", [1, False]), ("1", [0, True])],
    ids=["direct: hot statements prepared", "PgBouncer transaction pooling: nothing kept on the session"],
)
def test_statements_are_prepared_per_connection_only_when_not_behind_transaction_pooling(pooling, expected):
    # Given the production settings' database options, connected straight to PostgreSQL
    result = run_python(
        _PREPARED_AFTER_SIX_RUNS,
        DJANGO_SETTINGS_MODULE="gateway_project.settings.base",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        DB_TRANSACTION_POOLING=pooling,
    )
    # When one statement runs six times, then: prepared (psycopg's threshold is 5) unless pooled
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
