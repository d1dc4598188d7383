"""Test helpers for webhooks: a real HTTP receiver on 127.0.0.1, the documented verification
snippet, and bounded polling (``wait_until``, from tests.waiting)."""

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.db import transaction

from events.services import event_record
from tests.waiting import WAIT_SECONDS, wait_until  # noqa: F401  (wait_until: re-exported for the events tests)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS_DOC = REPO_ROOT / "docs" / "webhooks.md"
README_DOC = REPO_ROOT / "README.md"


def verification_snippet(path: Path) -> str:
    """The fenced ```python block of ``path`` that defines ``verify_gateway_signature``."""
    blocks = re.findall(r"^```python\n(.*?)^```", Path(path).read_text(), flags=re.S | re.M)
    matching = [b for b in blocks if "def verify_gateway_signature(" in b]
    assert len(matching) == 1, f"{path}: expected exactly one python block defining verify_gateway_signature"
    return matching[0]


def load_verifier(path: Path = WEBHOOKS_DOC) -> Callable[..., bool]:
    """Execute the documented snippet as a receiver would copy it, and return its function."""
    namespace: dict = {}
    exec(compile(verification_snippet(path), str(path), "exec"), namespace)
    return namespace["verify_gateway_signature"]


def record_event(*, merchant_id: str, type: str = "payment.succeeded", data: dict | None = None, livemode=False):
    """What orders and payments do: the event in the transaction of the change."""
    with transaction.atomic():
        return event_record(
            merchant_id=merchant_id,
            type=type,
            data=data or {"id": "pay_123", "object": "payment", "amount": 1500, "currency": "EUR"},
            livemode=livemode,
        )


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # what the receiver answered (None: never answered)

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: ``statuses`` are answered in order (the last repeats); ``"hang"``
    never answers until ``release()``."""

    statuses: list = field(default_factory=lambda: [200])
    response_body: bytes = b"ok"
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    index = len(receiver.requests)
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                    record = ReceivedRequest(self.path, dict(self.headers.items()), body, None)
                    receiver.requests.append(record)
                if status == "hang":
                    receiver._release.wait(WAIT_SECONDS)
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(receiver.response_body)))
                    self.end_headers()
                    self.wfile.write(receiver.response_body)
                    record.status = status
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def answered(self, status: int | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status is not None and (status is None or r.status == status)]

    def accepted(self) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
