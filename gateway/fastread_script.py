"""The GET fast path's one round trip (``gateway.fastread``): its Lua script, run by EVALSHA on a
connection of the worker thread's own, loaded again when Redis lost it (a restart)."""

import os
import threading
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .ratelimit import TOKEN_BUCKET_TAKE_LUA
from .resp import command_packed, reply_read

# KEYS: the credential's cached resolution, the principal's bucket, the object's token.
# ARGV: the resolution's bytes as this process knows them, rate ('' with the limiter off), burst,
# the data key without the token at its end.
# Returns {0, resolution}: not the known one, nothing done; else {1, allowed, tokens * 1000, entry}
# (no entry when refused, or when token or entry is missing).
READ_LUA = (
    TOKEN_BUCKET_TAKE_LUA
    + """
local seen = redis.call('GET', KEYS[1])
if seen ~= ARGV[1] then
  return {0, seen}
end
local allowed, tokens = 1, 0
if ARGV[2] ~= '' then
  allowed, tokens = bucket_take(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]))
  if allowed == 0 then
    return {1, 0, math.floor(tokens * 1000)}
  end
end
local token = redis.call('GET', KEYS[3])
if not token then
  return {1, allowed, math.floor(tokens * 1000)}
end
return {1, allowed, math.floor(tokens * 1000), redis.call('GET', ARGV[4] .. token)}
"""
)

_script_sha: str | None = None


class _Link(threading.local):
    """This thread's own connection to Redis for the script, made like the pool's connections
    (address, database, credentials, TLS, timeouts) but used without the pool and the client:
    borrowing from redis-py's pool and going through its client costs twice the round trip's own
    CPU (locks, a poll of the socket, metrics). One more connection per worker thread."""

    connection: Any = None
    pool: Any = None
    pid = 0
    used_at = 0.0


_link = _Link()
_IDLE_CHECK_SECONDS = 1.0


def _connection(client):
    pool, now = client.connection_pool, time.monotonic()
    if _link.connection is None or _link.pool is not pool or _link.pid != os.getpid():
        if _link.connection is not None and _link.pid == os.getpid():
            _link.connection.disconnect()
        _link.connection = pool.connection_class(**pool.connection_kwargs)
        _link.pool, _link.pid = pool, os.getpid()
    elif now - _link.used_at > _IDLE_CHECK_SECONDS and _closed_or_unread(_link.connection):
        _link.connection.disconnect()  # the next command connects anew
    _link.used_at = now
    return _link.connection


def _closed_or_unread(connection) -> bool:
    """Whether a connection idle a while can no longer carry a command: Redis closed it (a restart,
    its ``timeout``), which redis-py's ``can_read`` raises as ``ConnectionError`` rather than
    answers, or bytes wait unread. As redis-py's own pool checks a connection it hands out."""
    try:
        return connection.can_read()
    except (RedisConnectionError, RedisTimeoutError, OSError):
        return True


def _call(connection, keys: list[str], args: list) -> list:
    """EVALSHA of the script on ``connection``, packed and read by ``gateway.resp`` (a failure that
    may leave the stream out of step drops the connection; NOSCRIPT is a whole reply, and raised)."""
    connection.send_packed_command([command_packed("EVALSHA", _script_sha, len(keys), *keys, *args)])
    try:
        return reply_read(connection._sock)
    except NoScriptError:
        raise
    except BaseException:
        connection.disconnect()
        raise


def script_run(client, keys: list[str], args: list) -> list:
    """The script's reply, in one round trip (two after Redis lost the script: a restart)."""
    global _script_sha
    connection = _connection(client)
    if _script_sha is None:
        _script_sha = client.script_load(READ_LUA)
    try:
        return _call(connection, keys, args)
    except NoScriptError:
        _script_sha = client.script_load(READ_LUA)
        return _call(connection, keys, args)
