"""Loopback ports for local servers that another process binds later (gunicorn, nginx, PgBouncer,
the sinks, test fakes), safe when several test runs and stacks share the machine.

Asking the kernel for a free port (bind to port 0, close, hand the number on) leaves a window in
which the same number goes to someone else: the kernel hands ephemeral ports to every outgoing
connection and every other ``bind(0)``, so two stacks started at once can be given one port, and
the second server's failed bind is hidden when the readiness check connects to the first one's. A
webhook then lands in another run's receiver.

So a port is taken from below the kernel's ephemeral range (``ip_local_port_range``), which
outgoing connections and ``bind(0)`` never use, and is held by an exclusive ``flock`` on
``/tmp/gateway-ports/<port>.lock`` for the life of the process that reserved it (the kernel drops
the lock when the process exits, however it exits). Every caller here goes through
``reserve_port``, so no two of them get the same port while both live.
"""

import fcntl
import os
import random
import socket
from pathlib import Path

LOCK_DIR = Path(os.environ.get("GATEWAY_PORT_LOCK_DIR", "/tmp/gateway-ports"))
# Below Linux's default ephemeral range (32768-60999) and above the registered services people
# usually run on a development machine.
LOW, HIGH = 20000, 32000

_held: dict[int, int] = {}  # port -> fd of its lock, kept open while this process lives


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reserve_port() -> int:
    """A loopback port no other ``reserve_port`` caller holds, outside the ephemeral range and free
    right now; held until this process exits (``release_port`` gives it back sooner)."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    eph_low, eph_high = _ephemeral_range()
    candidates = [p for p in range(LOW, HIGH) if not eph_low <= p <= eph_high and p not in _held]
    random.shuffle(candidates)
    for port in candidates[:2000]:
        fd = os.open(LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if not _bindable(port):
            os.close(fd)  # someone outside this scheme listens there
            continue
        _held[port] = fd
        return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH} outside the ephemeral range {eph_low}-{eph_high}")


def release_port(port: int) -> None:
    """Give a reserved port back (its server has stopped)."""
    fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)
