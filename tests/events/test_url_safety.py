"""SSRF rules, with the production settings (no http, no private addresses)."""

import pytest

from events.models import WebhookEndpoint
from events.url_safety import UnsafeUrl, webhook_target

BLOCKED = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/hook",
    "https://100.64.0.1/hook",
    "https://100.100.100.200/hook",
    "https://224.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0x7f.1/hook",  # 127.0.0.1 in hex shorthand
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://[fe80::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
    "https://[ff02::1]/hook",
]


@pytest.fixture
def production_rules(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.mark.parametrize("url", BLOCKED)
def test_internal_addresses_are_refused(production_rules, url):
    with pytest.raises(UnsafeUrl):
        webhook_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # plain http
        "ftp://93.184.216.34/hook",
        "https://user:pass@93.184.216.34/hook",  # credentials
        "https:///hook",
        "https://93.184.216.34/hook#frag",
        "https://93.184.216.34/ho ok",
        "https://93.184.216.34:99999/hook",
        "https://" + "a" * 2050 + ".com/",
        "not a url",
    ],
)
def test_malformed_or_non_https_urls_are_refused(production_rules, url):
    with pytest.raises(UnsafeUrl):
        webhook_target(url)


@pytest.mark.parametrize(
    ("url", "address", "port", "path"),
    [
        ("https://93.184.216.34/hooks?x=1", "93.184.216.34", 443, "/hooks?x=1"),
        ("https://8.8.8.8:8443", "8.8.8.8", 8443, "/"),
        ("https://[2606:4700:4700::1111]/h", "2606:4700:4700::1111", 443, "/h"),
    ],
)
def test_public_addresses_are_accepted_and_pinned(production_rules, url, address, port, path):
    target = webhook_target(url)
    assert (target.address, target.port, target.path) == (address, port, path)


def test_relaxed_settings_allow_http_and_loopback(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    target = webhook_target("http://localhost:8080/hook")
    assert target.address in ("127.0.0.1", "::1")
    assert target.host == "localhost"


def test_http_alone_does_not_allow_private_addresses(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert webhook_target("http://93.184.216.34/").scheme == "http"
    with pytest.raises(UnsafeUrl):
        webhook_target("http://127.0.0.1/")


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://[::1]/hook", "http://93.184.216.34/hook"])
def test_api_refuses_unsafe_urls_on_create(production_rules, secret_client, url):
    response = secret_client.post("/v1/webhook_endpoints", {"url": url, "enabled_events": ["*"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("url_invalid", "url")
    assert not WebhookEndpoint.objects.exists()


def test_api_refuses_unsafe_urls_on_update(production_rules, secret_client):
    created = secret_client.post(
        "/v1/webhook_endpoints", {"url": "https://93.184.216.34/hook", "enabled_events": ["*"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    endpoint_id = created.json()["id"]
    response = secret_client.patch(
        f"/v1/webhook_endpoints/{endpoint_id}", {"url": "https://169.254.169.254/"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_invalid"
    assert WebhookEndpoint.objects.get(id=endpoint_id).url == "https://93.184.216.34/hook"


def test_default_settings_are_strict_outside_tests_and_embedded_mode():
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = (
        "import django, os; django.setup(); from django.conf import settings; "
        "print(settings.WEBHOOK_ALLOW_HTTP, settings.WEBHOOK_ALLOW_PRIVATE_URLS)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "gateway_project.settings.base",
        "DATABASE_URL": "postgres://x@127.0.0.1:5432/x",
        "REDIS_URL": "redis://127.0.0.1:6379/6",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split()[-2:] == ["False", "False"]
