"""gateway.resp: one command and its reply in the Redis protocol, checked against redis-py's packer
and against a real Redis server speaking RESP2 and RESP3 (the protocol's own definition is the
server's answer, not a copy of it here)."""

from urllib.parse import urlparse

import pytest
from django.conf import settings
from redis.connection import Connection
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from gateway.resp import command_packed, reply_read

# A script whose reply holds every kind the fast path's script returns: integers, a bulk string,
# a binary one, an empty one, and a nil (Lua false) inside an array.
_SCRIPT = "return {1, 0, 123456, ARGV[1], '', false, {7, 'x'}}"
_EXPECTED = [1, 0, 123456, "é\x00\r\n€".encode(), b"", None, [7, b"x"]]


def _connected(protocol: int = 2) -> Connection:
    """A connection redis-py made (and said HELLO on), as the fast path uses one."""
    url = urlparse(settings.REDIS_URL)
    connection = Connection(host=url.hostname or "127.0.0.1", port=url.port or 6379, protocol=protocol)
    connection.connect()
    return connection


@pytest.fixture
def redis_socket():
    connection = _connected()
    yield connection._sock
    connection.disconnect()


def _ask(sock, *args):
    sock.sendall(command_packed(*args))
    return reply_read(sock)


class _Trickle:
    """A socket that hands over what it holds ``step`` bytes at a time, then says the peer closed."""

    def __init__(self, data: bytes, step: int = 1):
        self.data, self.step = data, step

    def recv(self, size: int) -> bytes:
        chunk, self.data = self.data[: self.step], self.data[self.step :]
        return chunk


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "0" * 40, 3, "k1", "k:2", "ключ"),
        ("SET", b"binary\x00\r\nkey", b"\xff\xfe", "EX", 10),
        ("EVALSHA", "a" * 40, 1, "k", b"", 2.5, 1e-06, 1000000, ""),
    ],
)
def test_a_command_is_packed_as_redis_py_packs_it(args):
    assert command_packed(*args) == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_real_servers_reply_is_read_in_both_protocols(protocol):
    # Given a connection redis-py made speaking the protocol
    connection = _connected(protocol)
    try:
        # When a script returns every kind the fast path reads, then each comes back as expected
        assert _ask(connection._sock, "EVAL", _SCRIPT, 0, "é\x00\r\n€") == _EXPECTED
        assert _ask(connection._sock, "GET", "gateway-resp-test:absent") is None
        assert _ask(connection._sock, "PING") == b"PONG"
        # And redis-py, reading the same script's reply on the same connection, agrees
        connection.send_command("EVAL", _SCRIPT, 0, "é\x00\r\n€")
        assert connection.read_response() == _EXPECTED
    finally:
        connection.disconnect()


def test_a_reply_split_anywhere_is_read_whole(redis_socket):
    # Given the bytes of a real reply
    redis_socket.sendall(command_packed("EVAL", _SCRIPT, 0, "é\x00\r\n€"))
    raw = b""
    while raw.count(b"\r\n") < 14:
        raw += redis_socket.recv(65536)

    # When they arrive a byte at a time, then the reply is the same
    assert reply_read(_Trickle(raw)) == _EXPECTED


def test_errors_are_raised_as_redis_py_raises_them(redis_socket):
    with pytest.raises(NoScriptError):
        _ask(redis_socket, "EVALSHA", "0" * 40, 0)
    with pytest.raises(ResponseError):
        _ask(redis_socket, "EVAL", "return redis.call('NOSUCHCOMMAND')", 0)
    # And the connection is still in step after an error reply
    assert _ask(redis_socket, "PING") == b"PONG"


def test_an_error_inside_an_array_is_an_element_and_the_reply_is_read_whole():
    # As redis-py gives it: raised only when it is the reply; the rest of the array still read
    reply = reply_read(_Trickle(b"*3\r\n:1\r\n-NOSCRIPT No matching script\r\n$2\r\nok\r\n"))
    assert reply[0] == 1 and isinstance(reply[1], NoScriptError) and reply[2] == b"ok"
    with pytest.raises(ConnectionError):  # a NOSCRIPT reply followed by more bytes is out of step
        reply_read(_Trickle(b"-NOSCRIPT No matching script\r\n:1\r\n", step=64))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b":1\r\n:2\r\n", id="bytes after the reply"),
        pytest.param(b"*2\r\n:1\r\n", id="closed in the middle"),
        pytest.param(b"$3\r\nabcd\r\n", id="bulk string longer than announced"),
        pytest.param(b"*2\r\n$1\r\naXY:5\r\n", id="bulk string not ended by CRLF"),
        pytest.param(b"%1\r\n+a\r\n:1\r\n", id="a type the script never returns"),
    ],
)
def test_a_reply_out_of_step_is_a_connection_error(raw):
    with pytest.raises(ConnectionError):
        reply_read(_Trickle(raw, step=len(raw)))  # all at once: bytes after the reply are seen
