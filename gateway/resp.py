"""One Redis command and its reply in the Redis serialization protocol (RESP2 and RESP3), for the
GET fast path's script call (``gateway.fastread``), on a connection redis-py made and owns.

Why not redis-py's own packer and parser: on a cache hit the round trip is most of what the fast
path costs beyond a bare view, and redis-py spends more CPU in them (a buffered reader, a line at a
time, a generic encoder per argument) than in the socket calls (docs/performance.md). Here the
command is one ``bytes`` and the reply is parsed from what one ``recv`` usually brings.

Only what the script's reply holds is read: integers, bulk strings, arrays, nulls (RESP2's ``$-1``
and ``*-1``, RESP3's ``_``), simple strings and errors. Anything else is a ``ConnectionError``, as
is a reply followed by more bytes: either leaves the stream out of step, so the caller drops the
connection. See https://redis.io/docs/latest/develop/reference/protocol-spec/.
"""

from typing import Any

from redis.exceptions import ConnectionError, NoScriptError, ResponseError

_CHUNK = 65536


def command_packed(*args: str | bytes | int | float) -> bytes:
    """``args`` as Redis reads a command: an array of bulk strings (str as UTF-8, numbers as repr)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else (arg if isinstance(arg, str) else repr(arg)).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Reader:
    __slots__ = ("buffer", "position", "sock")

    def __init__(self, sock) -> None:
        self.sock, self.buffer, self.position = sock, b"", 0

    def _more(self) -> None:
        chunk = self.sock.recv(_CHUNK)
        if not chunk:
            raise ConnectionError("Redis closed the connection during a reply")
        self.buffer += chunk

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n", self.position)) < 0:
            self._more()
        line, self.position = self.buffer[self.position : end], end + 2
        return line

    def value(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buffer) < self.position + size + 2:
                self._more()
            data = self.buffer[self.position : self.position + size]
            if self.buffer[self.position + size : self.position + size + 2] != b"\r\n":
                raise ConnectionError("malformed bulk string in a Redis reply")
            self.position += size + 2
            return data
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.value() for _ in range(size)]
        if kind == b"_":
            return None
        if kind == b"+":
            return rest
        if kind == b"-":  # returned, not raised: the rest of an array must still be read
            message = rest.decode(errors="replace")
            return (NoScriptError if message.startswith("NOSCRIPT") else ResponseError)(message)
        raise ConnectionError(f"unexpected Redis reply type {kind!r}")


def reply_read(sock) -> Any:
    """The one reply to one command, read whole from ``sock``: ints, bytes, lists, None. A Redis
    error as the reply is raised (``NoScriptError``, ``ResponseError``), one inside an array is an
    element (as redis-py gives them); bytes after the reply are a ``ConnectionError``."""
    reader = _Reader(sock)
    value = reader.value()
    if reader.position != len(reader.buffer):
        raise ConnectionError("more bytes than one Redis reply")
    if isinstance(value, ResponseError):
        raise value
    return value
