"""A local HTTP server playing an outside processor (stdlib ThreadingHTTPServer on 127.0.0.1).

Subclasses implement ``route(request) -> Reply`` speaking the processor's wire format and keep
their own books. Faults can be injected per (method, path prefix) for the next N matching
requests:

* ``hold``: keep the request unanswered until the test calls ``release()``, then process it and
  answer normally. With a short client read timeout the client gives up first however loaded
  the machine is; the request is processed (the charge made) at ``release()`` and its reply
  comes too late. ``release()`` returns once every held request has been processed;
* ``status``: answer ``status`` (e.g. 500) with the processor's error body, without processing;
* ``drop``: close the connection without processing or answering;
* ``reply_lost``: process (the charge is made and recorded), then close without answering.

``refusing_url()`` gives a URL where nothing listens (connection refused).

No fault depends on elapsed time: a test that needs a reply to come too late holds it, and a
test that needs it to come at all never races a short timeout.
"""

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON; bytes -> as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    kind: str
    method: str | None
    path: str
    times: int
    status: int = 500
    released: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.server.fake.serve(self, request)

    do_GET = do_POST = do_DELETE = do_PATCH = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: "FakeServer"


class FakeServer:
    # A held request that nobody releases still ends (answered late) instead of pinning a thread.
    HOLD_LIMIT_SECONDS = 300.0

    def __init__(self):
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.faults: list[Fault] = []
        self._holds: list[Fault] = []  # hold faults injected and not released yet
        self._holding = 0  # requests taken by a hold fault and not processed yet
        self._in_flight: dict[str, Request] = {}  # flight_key() -> the request being served with it
        self.log: list[Request] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> "FakeServer":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            for fault in self._holds:
                fault.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @staticmethod
    def refusing_url() -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"  # closed again: connecting is refused

    # --- faults ---------------------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        path: str = "",
        method: str | None = "POST",
        times: int = 1,
        status: int = 500,
    ) -> None:
        assert kind in ("hold", "status", "drop", "reply_lost"), kind
        fault = Fault(kind, method, path, times, status)
        with self.lock:
            self.faults.append(fault)
            if kind == "hold":
                self._holds.append(fault)

    def release(self, *, timeout: float = 60.0) -> None:
        """Let the held requests go on; returns once each has been processed and answered (too late).

        Waits for every request the hold faults expect, including one not read yet: on a busy
        machine the client's read timeout can fire before this server has even read the request.
        """
        with self._changed:
            faults, self._holds = self._holds, []
            for fault in faults:
                fault.released.set()
            processed = self._changed.wait_for(
                lambda: self._holding == 0 and all(fault.times <= 0 for fault in faults), timeout
            )
        assert processed, f"held requests not processed within {timeout} s (did they reach the fake?)"

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (fault.method is None or fault.method == request.method) and request.path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    if fault.kind == "hold":
                        self._holding += 1
                    return fault
        return None

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path.startswith(path_prefix) and (method is None or r.method == method)]

    # --- serving --------------------------------------------------------------------------------
    def serve(self, handler: _Handler, request: Request) -> None:
        """A request is in flight from its arrival (before any fault holds it) until it is
        answered; another one with the same ``flight_key`` meanwhile gets ``in_flight_reply``."""
        key = self.flight_key(request)
        if key is not None:
            with self.lock:
                busy = key in self._in_flight
                if busy:
                    self.log.append(request)
                else:
                    self._in_flight[key] = request
            if busy:
                self._write(handler, self.in_flight_reply())
                return
        try:
            self._serve(handler, request)
        finally:
            self._flight_end(request)

    def _serve(self, handler: _Handler, request: Request) -> None:
        with self.lock:
            self.log.append(request)
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "drop":
            self._drop(handler)
            return
        if fault is not None and fault.kind == "status":
            self._write(handler, self.error_reply(fault.status))
            return
        if fault is not None and fault.kind == "hold":
            fault.released.wait(self.HOLD_LIMIT_SECONDS)
            try:
                self._process(handler, request, fault)
            finally:
                with self._changed:
                    self._holding -= 1
                    self._changed.notify_all()
            return
        self._process(handler, request, fault)

    def _process(self, handler: _Handler, request: Request, fault: Fault | None) -> None:
        try:
            reply = self.route(request)
        except Exception as exc:  # a bug in the fake must show up, not hang the client
            reply = Reply(599, {"fake_error": repr(exc)})
        # The request's work is done: it is no longer in flight, even before its answer reaches the
        # client (which may send its next request the moment it reads the answer).
        self._flight_end(request)
        if fault is not None and fault.kind == "reply_lost":
            self._drop(handler)
            return
        self._write(handler, reply)

    def _flight_end(self, request: Request) -> None:
        key = self.flight_key(request)
        if key is not None:
            with self.lock:
                if self._in_flight.get(key) is request:  # never a later request's flight of the same key
                    del self._in_flight[key]

    @staticmethod
    def _drop(handler: _Handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _write(handler: _Handler, reply: Reply) -> None:
        payload = reply.encode()
        try:
            handler.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client gave up (timeout) before we answered
            handler.close_connection = True

    # --- for subclasses ---------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def error_reply(self, status: int) -> Reply:
        return Reply(status, {"error": "injected"})

    def flight_key(self, request: Request) -> str | None:
        """What a request holds while it is served (an idempotency key...), or None."""
        return None

    def in_flight_reply(self) -> Reply:
        """The answer to a request whose ``flight_key`` another request holds."""
        raise NotImplementedError
