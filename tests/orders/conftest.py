"""Orders fixtures: a customer of the test merchant, order payloads, and a REAL SMTP server on
loopback (aiosmtpd) that can refuse the first deliveries, for the notification tests."""

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from merchants.models import Merchant
from tests.conftest import free_port
from tests.customers.factories import CustomerFactory
from tests.waiting import WAIT_SECONDS, wait_until  # noqa: F401  (wait_until: re-exported for the orders tests)


@pytest.fixture
def merchant(merchant_keys) -> Merchant:
    return Merchant.objects.get(id=merchant_keys.merchant_id)


@pytest.fixture
def customer(merchant):
    return CustomerFactory(merchant=merchant, email="ada@example.com", name="Ada Lovelace")


@pytest.fixture
def order_payload(customer) -> dict:
    return {
        "customer": customer.id,
        "currency": "usd",
        "lines": [
            {"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_amount": 1250},
            {"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_amount": 900},
        ],
        "shipping_amount": 500,
        "tax_amount": 340,
        "metadata": {"cart": "c_42"},
    }


@pytest.fixture
def create_order(secret_client, order_payload) -> Callable[..., dict]:
    def create(**overrides) -> dict:
        response = secret_client.post("/v1/orders", {**order_payload, **overrides}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return create


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- a real SMTP server -------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


@dataclass
class FlakySMTPHandler:
    """Answers ``451`` to the first ``fail_first`` DATA commands, then accepts (``250``).

    ``data_code`` replaces 451 (e.g. "554 ..." for a permanent refusal). With ``hold`` set, each
    DATA command waits unanswered until ``release()`` (``held`` is set once one waits), so a test
    can run a second delivery while the first is provably still talking to the server."""

    fail_first: int = 0
    data_code: str = "451 4.3.0 Mailbox temporarily unavailable, try again later"
    hold: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    data_commands: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.hold:
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, WAIT_SECONDS)
        with self.lock:
            self.data_commands += 1
            if self.data_commands <= self.fail_first:
                return self.data_code
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
            )
        return "250 2.0.0 Message accepted for delivery"

    def release(self) -> None:
        self.released.set()

    def messages_to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class SMTPServer:
    host: str
    port: int
    handler: FlakySMTPHandler


@pytest.fixture
def smtp_server(monkeypatch, settings):
    """aiosmtpd on 127.0.0.1:<free port>. This process's Django and any worker started after it
    (``service_env`` copies os.environ) send through it; retry delays are cut to about a second,
    and the SMTP timeout is generous (nothing here waits for it to expire)."""
    handler = FlakySMTPHandler()
    port = free_port()
    # aiosmtpd gives its thread 5 s to start and answer by default, "too busy" for a loaded machine
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=WAIT_SECONDS)
    controller.start()
    env = {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_TIMEOUT": "30",
        "ORDER_NOTIFICATION_RETRY_BASE_SECONDS": "1",
        "ORDER_NOTIFICATION_RETRY_MAX_SECONDS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 30
    try:
        yield SMTPServer("127.0.0.1", port, handler)
    finally:
        handler.release()
        controller.stop()


@pytest.fixture
def notification_worker(smtp_server, request):
    """The real Celery worker (tests/conftest.py), started after the SMTP server's environment is set."""
    return request.getfixturevalue("celery_worker")
