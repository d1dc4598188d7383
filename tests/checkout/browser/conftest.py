"""The hosted page in a real browser: Debian's Chromium driven by Playwright, against gunicorn
(test settings, the test database) and a real Celery worker delivering webhooks to a receiver on
127.0.0.1. A small "merchant site" serves the success and cancel pages.

gunicorn, the worker and the browser start once for this package; every test gets a fresh
browser context and a flushed database (``transactional_db``). Screenshots of each final page
go to ``test-artifacts/checkout/`` (git-ignored).
"""

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO_ROOT, WorkerProcess, free_port, make_merchant_keys, service_env, wait_for_http
from tests.events.helpers import Receiver, wait_until
from tests.waiting import WAIT_SECONDS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "checkout"

pytestmark = pytest.mark.slow


class MerchantSite:
    """The merchant's own pages: success_url and cancel_url land here."""

    def __init__(self):
        site = self
        self.visits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.visits.append(self.path)
                title = "Thank you for your order" if self.path.startswith("/done") else "Your cart"
                body = (
                    f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
                    f"<body><main><h1>{title}</h1><p id='path'>{self.path}</p></main></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    base_url: str
    queue: str
    gunicorn_log: Path
    worker: WorkerProcess
    site: MerchantSite
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


@pytest.fixture(scope="package")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn + worker on one queue, the page's public URLs pointing at that gunicorn."""
    from gateway_project.celery import app

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/services.sh installs Debian's chromium (make test does)")
    logs = tmp_path_factory.mktemp("checkout-browser")
    queue = f"gateway-browser-{uuid.uuid4().hex[:8]}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock():
        env = service_env(
            PAYMENTS_PUBLIC_BASE_URL=base_url,
            SANDBOX_BASE_URL=base_url,
            CHECKOUT_PUBLIC_BASE_URL=base_url,
            CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_TASK_DEFAULT_QUEUE=queue,
            LOG_LEVEL="INFO",
        )
    gunicorn_log = logs / "gunicorn.log"
    with open(gunicorn_log, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "gateway_project.wsgi:application", "--bind", f"127.0.0.1:{port}",
             # --timeout: a worker importing Django on a loaded machine must not be killed as silent
             "--workers", "2", "--threads", "4", "--timeout", "120", "--access-logfile", "-"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_http(f"{base_url}/healthz", process, lambda: f"gunicorn did not start: {gunicorn_log.read_text()[-2000:]}")
    with django_db_blocker.unblock():
        worker = WorkerProcess(queue, logs / "worker.log")
        worker.start()
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    site = MerchantSite()
    try:
        yield Stack(base_url, queue, gunicorn_log, worker, site, logs=[gunicorn_log, logs / "worker.log"])
    finally:
        site.close()
        worker.stop()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
        app.conf.task_always_eager = True
        app.conf.task_default_queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "gateway")


@pytest.fixture(scope="package")
def browser(stack):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests make
    # around it are still synchronous ones (Django's documented escape hatch, tests only).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@dataclass
class Shop:
    """One test's merchant: API keys, a webhook endpoint on a receiver, the browser context."""

    stack: Stack
    keys: object
    receiver: Receiver
    context: object
    pages_html: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def client(self):
        return self.keys.client("secret")

    def session(self, **body) -> dict:
        if "order" not in body:
            body.setdefault("amount", 2500)
            body.setdefault("currency", "usd")
            body.setdefault("line_items", [{"description": "Green tea", "quantity": 2, "amount": 2500}])
        body.setdefault("success_url", f"{self.stack.site.base}/done?session={{CHECKOUT_SESSION_ID}}")
        body.setdefault("cancel_url", f"{self.stack.site.base}/cart")
        response = self.client.post("/v1/checkout/sessions", body, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    def page_url(self, session: dict) -> str:
        return f"{self.stack.base_url}{urlsplit(session['url']).path}"

    def new_page(self):
        page = self.context.new_page()
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        return page

    def keep(self, page) -> None:
        """Remember the HTML the customer saw (the card-number scan reads it)."""
        self.pages_html.append(page.content())

    def screenshot(self, page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.keep(page)

    def events(self, type: str) -> list[dict]:
        return [r.event for r in self.receiver.accepted() if r.event["type"] == type]

    def wait_for_event(self, type: str, object_id: str) -> dict:
        return wait_until(
            lambda: next((e for e in self.events(type) if e["data"]["object"]["id"] == object_id), None),
            message=f"webhook {type} for {object_id}",
        )


@pytest.fixture
def shop(stack, browser, transactional_db, request):
    keys = make_merchant_keys("Tea House")
    receiver = Receiver()
    response = keys.client("secret").post(
        "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]}, format="json"
    )
    assert response.status_code == 201, response.content
    options = dict(getattr(request, "param", {}) or {})
    context = browser.new_context(**options)
    # Every wait of the browser (navigation, element, URL) returns as soon as it holds: a deadline
    # long enough for Chromium, gunicorn and the worker sharing a loaded machine costs nothing.
    context.set_default_timeout(WAIT_SECONDS * 1000)
    try:
        yield Shop(stack, keys, receiver, context)
    finally:
        context.close()
        receiver.close()


def fill_card(page, number: str, *, expiry: str = "12 / 34", cvc: str = "737", name: str = "Ada Lovelace") -> None:
    page.fill("#card-number", number)
    page.fill("#card-expiry", expiry)
    page.fill("#card-cvc", cvc)
    page.fill("#card-name", name)


def axe_violations(page) -> list[dict]:
    """axe-core (npm, pinned) injected into the page; the serious and critical violations."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
