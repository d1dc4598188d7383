"""deploy/ports.py: two processes reserving ports at once never get the same one, and no reserved
port is one the kernel could hand to an outgoing connection or to another ``bind(0)``."""

import socket
import subprocess
import sys
import textwrap

import pytest

from deploy import ports
from deploy.stack import ROOT


@pytest.fixture
def small_range(monkeypatch, tmp_path):
    """Ten ports and a private lock directory, so contention is certain and no other run is touched."""
    monkeypatch.setattr(ports, "LOCK_DIR", tmp_path)
    monkeypatch.setattr(ports, "LOW", 24100)
    monkeypatch.setattr(ports, "HIGH", 24110)
    monkeypatch.setattr(ports, "_held", {})
    yield tmp_path
    for port in list(ports._held):
        ports.release_port(port)


def _holder(lock_dir, count: int) -> subprocess.Popen:
    """Another process that reserves ``count`` ports of the small range and holds them until told."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from deploy import ports
        ports.LOCK_DIR, ports.LOW, ports.HIGH = Path({str(lock_dir)!r}), 24100, 24110
        print(",".join(str(ports.reserve_port()) for _ in range({count})), flush=True)
        sys.stdin.read()
    """)
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_a_port_held_by_another_process_is_never_handed_out(small_range):
    # Given another process holding six of the ten ports
    holder = _holder(small_range, 6)
    try:
        theirs = {int(p) for p in holder.stdout.readline().strip().split(",")}
        assert len(theirs) == 6
        # When this process reserves the rest
        mine = {ports.reserve_port() for _ in range(4)}
        # Then none is theirs, and there is no eleventh
        assert mine.isdisjoint(theirs) and len(mine) == 4
        with pytest.raises(RuntimeError, match="no free port"):
            ports.reserve_port()
    finally:
        holder.communicate("", timeout=30)
    # And once the holder has exited, its ports are free again
    assert ports.reserve_port() in theirs


def test_a_port_someone_else_listens_on_is_skipped(small_range):
    # Given a listener outside the scheme on nine of the ten ports
    listeners = []
    try:
        for port in range(24100, 24109):
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            listeners.append(sock)
        # Then the one port nobody listens on is the one reserved
        assert ports.reserve_port() == 24109
    finally:
        for sock in listeners:
            sock.close()


def test_reserved_ports_are_below_the_ephemeral_range():
    low, _ = ports._ephemeral_range()
    reserved = [ports.reserve_port() for _ in range(20)]
    try:
        assert len(set(reserved)) == 20
        assert all(ports.LOW <= port < min(ports.HIGH, low) for port in reserved)
    finally:
        for port in reserved:
            ports.release_port(port)
