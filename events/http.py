"""One webhook POST with a hard total deadline, to the address the SSRF guard validated.

http.client over a socket we connect ourselves: the TLS certificate and SNI are checked against the
URL's host name while the TCP connection goes to the pre-validated IP (no second DNS lookup).
Redirects are not followed (a 3xx is a failed attempt). Only the first ``max_body_bytes`` of the
answer are read. A watchdog shuts the socket down at the deadline, so a receiver that trickles
bytes cannot hold a worker thread longer than the timeout.
"""

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from .url_safety import UnsafeUrl, webhook_target

USER_AGENT = "Gateway-Webhooks/1.0"


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    body: str
    error: str
    latency_ms: int
    address: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _Watchdog:
    def __init__(self, timeout: float):
        self.fired = False
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _host_header(scheme: str, host: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def post_json(*, url: str, body: bytes, headers: dict[str, str], timeout: float, max_body_bytes: int) -> PostResult:
    started = time.monotonic()

    def result(status_code: int | None = None, text: str = "", error: str = "", address: str | None = None):
        latency_ms = int((time.monotonic() - started) * 1000)
        return PostResult(status_code, text, error[:500], latency_ms, address)

    try:
        target = webhook_target(url)
    except UnsafeUrl as exc:
        return result(error=f"unsafe_url: {exc}")

    watchdog = _Watchdog(timeout)
    connection = None
    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
        watchdog.sock = sock
        if target.scheme == "https":
            sock = _ssl_context().wrap_socket(sock, server_hostname=target.host)
            watchdog.sock = sock
        if watchdog.fired:
            raise TimeoutError
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        connection.sock = sock
        request_headers = {
            "Host": _host_header(target.scheme, target.host, target.port),
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Connection": "close",
            **headers,
        }
        connection.request("POST", target.path, body=body, headers=request_headers)
        response = connection.getresponse()
        raw = response.read(max_body_bytes)
        if watchdog.fired:
            raise TimeoutError
        return result(response.status, raw.decode("utf-8", errors="replace"), address=target.address)
    except TimeoutError:
        return result(error=f"timeout after {timeout:g}s", address=target.address)
    except ssl.SSLError as exc:
        return result(error=f"tls_error: {exc}", address=target.address)
    except ConnectionRefusedError:
        return result(error="connection_refused", address=target.address)
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.fired:
            return result(error=f"timeout after {timeout:g}s", address=target.address)
        return result(error=f"{type(exc).__name__}: {exc}", address=target.address)
    finally:
        watchdog.cancel()
        if connection is not None:
            connection.close()
        elif watchdog.sock is not None:
            watchdog.sock.close()
