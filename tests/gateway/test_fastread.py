"""gateway.fastread: a cache hit of ``GET /v1/payments/{id}`` answered in one Redis round trip
without DRF, and everything else handed to the DRF view.

The differential test sends each request of a matrix twice from the same state, once with the fast
path on and once with it off (the DRF view alone): status, body, every header (in order) and the
access-log line must be the same. The hits must really have been answered by the fast path, or the
comparison would prove nothing. The ids in a body, the key hashes and the payments are the same
for both sides: each side runs in a savepoint rolled back afterwards, from an empty cache.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis.connection
import redis.exceptions
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection
from rest_framework.test import APIClient

import gateway.fastread as fastread
import gateway.fastread_script as fastread_script
import merchants.services
from merchants.models import ApiKey, Merchant
from merchants.selectors import principal_for_api_key
from merchants.services import api_key_revoke, merchant_update_rate_limit
from payments.cache import PAYMENT_CACHE
from payments.models import Payment
from tests.conftest import make_merchant_keys
from tests.customers.helpers import customer_client, live_client
from tests.payments.conftest import card

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
    }
}
# One token per 10^6 s: the Lua script counts thousandths of a token, so whatever time passes
# during the test (under 1000 s) adds none, and Retry-After is always exactly 1000000.
SLOW = 0.000001


@pytest.fixture(autouse=True)
def _fast_path_awake():
    """A test with a dead Redis leaves the fast path resting for a second: not into the next test."""
    fastread._resting_until = 0.0
    yield
    fastread._resting_until = 0.0


@dataclass
class World:
    merchant_id: str
    secret_raw_key: str
    other_raw_key: str
    own: str  # a succeeded test-mode payment of the merchant
    others: str  # another merchant's payment
    clients: dict[str, APIClient]

    def warm(self) -> None:
        """What steady traffic leaves behind: every key's resolution cached and known to this
        process, both payments' entries cached (a first request resolves, the second learns)."""
        for _ in range(2):
            for name in ("secret", "publishable", "live", "customer"):
                self.clients[name].get(f"/v1/payments/{self.own}")
            self.clients["other"].get(f"/v1/payments/{self.others}")

    def secret_key(self) -> ApiKey:
        return ApiKey.objects.get(merchant_id=self.merchant_id, kind="secret", livemode=False)


@pytest.fixture
def world() -> World:
    keys, other_keys = make_merchant_keys("Acme"), make_merchant_keys("Globex")
    secret, other = keys.client("secret"), other_keys.client("secret")
    own = secret.post(
        "/v1/payments", {"amount": 1234, "currency": "usd", "payment_method": card(), "confirm": True}, format="json"
    )
    others = other.post(
        "/v1/payments", {"amount": 999, "currency": "eur", "payment_method": card(), "confirm": True}, format="json"
    )
    assert own.status_code == others.status_code == 201
    clients = {
        "secret": secret,
        "publishable": keys.client("publishable"),
        "live": live_client(merchant_id=keys.merchant_id),
        "customer": customer_client(merchant_keys=keys),
        "other": other,
        "anonymous": APIClient(),
    }
    return World(
        merchant_id=keys.merchant_id,
        secret_raw_key=keys.secret_key,
        other_raw_key=other_keys.secret_key,
        own=own.json()["id"],
        others=others.json()["id"],
        clients=clients,
    )


@dataclass(frozen=True)
class Case:
    name: str
    client: str = "secret"
    path: str = "/v1/payments/{own}"
    method: str = "get"
    headers: tuple[tuple[str, str], ...] = ()
    fast: bool = False  # the fast path must have answered it
    setup: Callable[[World, object], None] | None = None  # before the warm-up
    before: Callable[[World, object], None] | None = None  # after the warm-up, buckets full


def _change(world: World, settings) -> None:
    # What a payment service does: change the row, rotate the token once the change commits.
    Payment.objects.filter(id=world.own).update(description="after the change")
    with TestCase.captureOnCommitCallbacks(execute=True):
        PAYMENT_CACHE.invalidate(object_id=world.own)


def _revoke(world: World, settings) -> None:
    api_key_revoke(api_key=world.secret_key())


def _revoke_and_ask(world: World, settings) -> None:
    _revoke(world, settings)
    world.clients["secret"].get(f"/v1/payments/{world.own}")  # caches the refusal


def _as_another_instance_resolves(world: World) -> None:
    # Another instance's request resolves the key and caches what it found: this process's own
    # memory of the key is not told (only the cached bytes differ from what it remembers).
    principal_for_api_key(raw_key=world.secret_raw_key)


def _revoke_elsewhere(world: World, settings) -> None:
    _revoke(world, settings)
    _as_another_instance_resolves(world)


def _limits_changed_elsewhere(world: World, settings) -> None:
    merchant_update_rate_limit(merchant=Merchant.objects.get(id=world.merchant_id), per_second=SLOW, burst=7)
    _as_another_instance_resolves(world)


def _slow_limit(world: World, settings) -> None:
    merchant_update_rate_limit(merchant=Merchant.objects.get(id=world.merchant_id), per_second=SLOW, burst=1)


def _spend_the_token(world: World, settings) -> None:
    assert world.clients["secret"].get(f"/v1/payments/{world.own}").status_code == 200


def _kill_redis(world: World, settings) -> None:
    settings.CACHES = DEAD_REDIS


def _limiter_off(world: World, settings) -> None:
    settings.RATE_LIMIT_ENABLED = False


def _forget_entry(world: World, settings) -> None:
    cache.delete_pattern(f"payment:{world.own}:*")


CASES = [
    Case("hit", fast=True),
    Case("hit, HEAD", method="head", fast=True),
    Case("hit, Accept: application/json", headers=(("HTTP_ACCEPT", "application/json"),), fast=True),
    Case("hit, Accept: */*", headers=(("HTTP_ACCEPT", "*/*"),), fast=True),
    Case("hit, limiter disabled", setup=_limiter_off, fast=True),
    Case("miss: entry gone", before=_forget_entry),
    Case("changed since cached: the new state, never the old", before=_change),
    Case("another merchant's payment (cached for them)", path="/v1/payments/{others}"),
    Case("the other mode's key", client="live"),
    Case("no such payment", path="/v1/payments/pay_doesnotexist"),
    Case("key revoked since cached", before=_revoke),
    Case("key revoked, refusal cached", before=_revoke_and_ask),
    Case("key revoked, refusal cached by another instance", before=_revoke_elsewhere),
    Case("limits changed, cached by another instance", before=_limits_changed_elsewhere),
    Case("publishable key", client="publishable"),
    Case("customer session token", client="customer"),
    Case("no Authorization", client="anonymous"),
    Case("Basic credentials", client="anonymous", headers=(("HTTP_AUTHORIZATION", "Basic c2s6"),)),
    Case("Bearer without a token", client="anonymous", headers=(("HTTP_AUTHORIZATION", "Bearer"),)),
    Case("unknown secret key", client="anonymous", headers=(("HTTP_AUTHORIZATION", "Bearer sk_test_nope"),)),
    Case("rate limited", setup=_slow_limit, before=_spend_the_token),
    Case("Redis unavailable", before=_kill_redis),
    Case("query string", path="/v1/payments/{own}?expand=customer"),
    Case("Accept with indent", headers=(("HTTP_ACCEPT", "application/json; indent=2"),)),
    Case("Accept: text/html", headers=(("HTTP_ACCEPT", "text/html"),)),
    Case("null character in the id", path="/v1/payments/pay%00x"),
    Case("trailing slash", path="/v1/payments/{own}/"),
    Case("POST", method="post"),
    # The middleware a hit passes over (gateway.fastread._PASSED_OVER) still decide these:
    Case("a session cookie and a malformed CSRF cookie", headers=(("HTTP_COOKIE", "sessionid=x; csrftoken=bad"),)),
    Case("a host not allowed", headers=(("HTTP_HOST", "evil.example"),)),
]


@dataclass(frozen=True)
class Observed:
    status: int
    headers: list[tuple[str, str]]
    cookies: list[str]  # Set-Cookie lines (a value made anew per answer, such as a CSRF secret, as V)
    body: bytes
    access_log: list[tuple]
    fast: bool


def _observe(response, records) -> Observed:
    request_id = response["Request-Id"]
    return Observed(
        status=response.status_code,
        headers=[(name, "req_X" if name == "Request-Id" else value) for name, value in response.items()],
        cookies=sorted(m.OutputString().replace(f"={m.coded_value};", "=V;") for m in response.cookies.values()),
        body=response.content.replace(request_id.encode(), b"req_X"),
        access_log=[
            (r.getMessage(), r.levelname, r.merchant_id, r.method, r.path, r.status)
            for r in records
            if r.name == "gateway.request"
        ],
        fast=getattr(response.wsgi_request, "gateway_fast_read", False),
    )


def _side(world: World, case: Case, *, fast: bool, settings, caplog) -> Observed:
    """One answer to the case's request from a fresh start; everything it changed is undone."""
    cache.delete_pattern("*")
    fastread._known.clear()
    fastread._resting_until = 0.0
    caches = settings.CACHES
    with transaction.atomic():
        settings.FAST_READS_ENABLED = True
        settings.RATE_LIMIT_ENABLED = True
        if case.setup:
            case.setup(world, settings)
        world.warm()
        cache.delete_pattern("ratelimit:*")  # both sides start with full buckets
        if case.before:
            case.before(world, settings)
        settings.FAST_READS_ENABLED = fast
        client = world.clients[case.client]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gateway.request"):
            response = getattr(client, case.method)(
                case.path.format(own=world.own, others=world.others), **dict(case.headers)
            )
        observed = _observe(response, caplog.records)
        settings.CACHES = caches
        transaction.set_rollback(True)
    return observed


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_fast_path_answers_exactly_as_the_drf_view(world, case, settings, caplog):
    # Given the same state twice, when the request is answered with the fast path and without it
    drf = _side(world, case, fast=False, settings=settings, caplog=caplog)
    fast = _side(world, case, fast=True, settings=settings, caplog=caplog)

    # Then the client (and the access log) cannot tell them apart
    assert (fast.status, fast.body) == (drf.status, drf.body)
    assert (fast.headers, fast.cookies) == (drf.headers, drf.cookies)
    assert fast.access_log == drf.access_log and len(drf.access_log) == 1
    # And the hits were the fast path's (the view's answers otherwise)
    assert fast.fast is case.fast and drf.fast is False


def test_the_matrix_covers_what_it_claims(world, settings, caplog):
    """The differential test compares like with like; these are the answers it compared."""
    expected = {
        "hit": 200,
        "changed since cached: the new state, never the old": 200,
        "another merchant's payment (cached for them)": 404,
        "the other mode's key": 404,
        "key revoked since cached": 401,
        "key revoked, refusal cached by another instance": 401,
        "limits changed, cached by another instance": 200,
        "publishable key": 403,
        "customer session token": 403,
        "rate limited": 429,
        "Redis unavailable": 200,
        "Accept: text/html": 406,
        "a session cookie and a malformed CSRF cookie": 200,
        "a host not allowed": 400,
    }
    by_name = {case.name: case for case in CASES}
    answers = {name: _side(world, by_name[name], fast=True, settings=settings, caplog=caplog) for name in expected}
    assert {name: observed.status for name, observed in answers.items()} == expected
    assert b"after the change" in answers["changed since cached: the new state, never the old"].body
    limited = dict(answers["rate limited"].headers)
    assert (limited["Retry-After"], limited["RateLimit-Remaining"]) == ("1000000", "0")
    assert "RateLimit-Limit" in dict(answers["hit"].headers)
    assert dict(answers["limits changed, cached by another instance"].headers)["RateLimit-Limit"] == "7"
    assert "RateLimit-Limit" not in dict(answers["Redis unavailable"].headers)
    hit = dict(answers["hit"].headers)
    assert (hit["X-Frame-Options"], hit["Content-Length"]) == ("DENY", str(len(answers["hit"].body)))
    renewed = answers["a session cookie and a malformed CSRF cookie"].cookies
    assert [cookie.split("=")[0] for cookie in renewed] == ["csrftoken", "sessionid"]
    assert answers["hit"].cookies == []


def test_a_middleware_it_would_pass_over_unread_is_refused_at_start(settings):
    # Given a middleware after the fast path that it knows nothing about
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]

    # When the middleware is built, then start-up fails, naming it
    with pytest.raises(ImproperlyConfigured, match="GZipMiddleware"):
        fastread.FastReadMiddleware(lambda request: None)


def test_csrf_kept_in_the_session_is_refused_at_start(settings):
    # Given CSRF secrets kept in the session: CsrfViewMiddleware then reads the session of every
    # request (and the answer gets Vary: Cookie), which a hit would skip
    settings.CSRF_USE_SESSIONS = True

    with pytest.raises(ImproperlyConfigured, match="CSRF_USE_SESSIONS"):
        fastread.FastReadMiddleware(lambda request: None)


def test_a_hit_that_fails_after_the_script_is_answered_by_the_view(world, monkeypatch):
    # Given a hit whose answer fails after the script ran (the database down under api_key_touch)
    world.warm()

    def failing(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(fastread, "_respond", failing)

    # Then the view answers it, through every middleware, with the token already taken
    response = world.clients["secret"].get(f"/v1/payments/{world.own}")
    assert response.status_code == 200 and not getattr(response.wsgi_request, "gateway_fast_read", False)
    assert response.wsgi_request.gateway_bucket_taken is not None
    assert (response["X-Frame-Options"], response["Content-Length"]) == ("DENY", str(len(response.content)))


def test_a_connection_redis_closed_while_idle_is_replaced_before_use(world, monkeypatch):
    # Given the fast path's connection closed by Redis while idle past the idle check
    monkeypatch.setattr(fastread_script, "_IDLE_CHECK_SECONDS", -1.0)  # every use is after an idle while
    world.warm()
    local = fastread_script._link.connection._sock.getsockname()
    get_redis_connection("default").client_kill(f"{local[0]}:{local[1]}")

    # Then the next hits are the fast path's, on a new connection
    for _ in range(3):
        response = world.clients["secret"].get(f"/v1/payments/{world.own}")
        assert response.status_code == 200 and response.wsgi_request.gateway_fast_read
    assert fastread_script._link.connection._sock.getsockname() != local


def _count_round_trips(monkeypatch) -> list[int]:
    """Every round trip to Redis sends one packed command (a lone command, a pipeline, a script)."""
    sent: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def send_packed_command(self, command, *args, **kwargs):
        sent.append(1)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_packed_command)
    return sent


def test_a_hit_costs_no_sql_statement_and_one_redis_round_trip(world, monkeypatch):
    world.warm()
    sent = _count_round_trips(monkeypatch)

    with CaptureQueriesContext(connection) as queries:
        response = world.clients["secret"].get(f"/v1/payments/{world.own}")

    assert response.status_code == 200 and response.wsgi_request.gateway_fast_read
    assert [q["sql"] for q in queries.captured_queries] == []
    assert len(sent) == 1


def test_a_hit_records_the_keys_use_as_authentication_does(world):
    # Given a key whose last use was recorded long ago, by no process still remembering it
    world.warm()
    key = world.secret_key()
    ApiKey.objects.filter(id=key.id).update(last_used_at=None)
    merchants.services._touched_until.clear()
    cache.delete(f"apikey-used:{key.id}")

    response = world.clients["secret"].get(f"/v1/payments/{world.own}")

    assert response.wsgi_request.gateway_fast_read
    assert ApiKey.objects.get(id=key.id).last_used_at is not None


def test_a_script_redis_lost_is_loaded_again(world):
    world.warm()
    fastread_script._script_sha = "0" * 40  # as after a Redis restart: NOSCRIPT

    response = world.clients["secret"].get(f"/v1/payments/{world.own}")

    assert response.status_code == 200 and response.wsgi_request.gateway_fast_read
    assert fastread_script._script_sha != "0" * 40


def test_a_connection_redis_closed_costs_one_answer_by_the_view(world, monkeypatch):
    # Given the fast path's own connection closed by Redis (a restart, its idle timeout), unnoticed
    # by the idle check (which a busy machine's pause before the request could otherwise trigger)
    monkeypatch.setattr(fastread_script, "_IDLE_CHECK_SECONDS", float("inf"))
    world.warm()
    local = fastread_script._link.connection._sock.getsockname()
    get_redis_connection("default").client_kill(f"{local[0]}:{local[1]}")

    # Then the next request is answered by the view, correctly
    first = world.clients["secret"].get(f"/v1/payments/{world.own}")
    assert first.status_code == 200 and not getattr(first.wsgi_request, "gateway_fast_read", False)
    # And once the fast path's rest is over, it answers on a new connection
    fastread._resting_until = 0.0
    second = world.clients["secret"].get(f"/v1/payments/{world.own}")
    assert second.wsgi_request.gateway_fast_read and second.content == first.content


def test_without_redis_the_view_answers(world, settings):
    # Given the embedded mode's cache (in-process, no Redis to share a bucket or a cache token)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    world.warm()

    response = world.clients["secret"].get(f"/v1/payments/{world.own}")

    assert response.status_code == 200 and not getattr(response.wsgi_request, "gateway_fast_read", False)


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_of_two_merchants_each_get_their_own(world, settings):
    # Given two merchants' payments cached, hit from several threads at once (gthread workers:
    # each thread has its own connection, so no thread can read another's reply)
    settings.RATE_LIMIT_BURST = 1000
    cache.delete_pattern("ratelimit:*")  # buckets made under the smaller burst keep their tokens
    world.warm()
    expected = {}
    for raw_key, payment_id in ((world.secret_raw_key, world.own), (world.other_raw_key, world.others)):
        expected[raw_key] = (
            world.clients["secret" if payment_id == world.own else "other"].get(f"/v1/payments/{payment_id}").content
        )
    failures: list[str] = []

    def hammer() -> None:
        clients = []
        for raw_key, payment_id in ((world.secret_raw_key, world.own), (world.other_raw_key, world.others)):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            clients.append((client, raw_key, payment_id))
        try:
            for _ in range(25):
                for client, raw_key, payment_id in clients:
                    response = client.get(f"/v1/payments/{payment_id}")
                    if not getattr(response.wsgi_request, "gateway_fast_read", False):
                        failures.append(f"not a fast answer: {response.status_code}")
                    elif response.content != expected[raw_key]:
                        failures.append(f"{payment_id}: another body {response.content[:60]!r}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every answer was the fast path's, and each merchant's own payment
    assert failures == []


def test_a_reply_out_of_step_drops_the_connection_and_the_view_answers(world, monkeypatch):
    # Given a reply the fast path cannot read whole (gateway.resp's ConnectionError)
    world.warm()
    read = fastread_script.reply_read

    def out_of_step(sock):
        read(sock)
        raise redis.exceptions.ConnectionError("more bytes than one Redis reply")

    monkeypatch.setattr(fastread_script, "reply_read", out_of_step)

    # Then the view answers, and the connection, out of step, is not used again
    first = world.clients["secret"].get(f"/v1/payments/{world.own}")
    assert first.status_code == 200 and not getattr(first.wsgi_request, "gateway_fast_read", False)
    assert fastread_script._link.connection._sock is None
    # And the next hit, once the rest is over, is the fast path's on a new connection
    monkeypatch.setattr(fastread_script, "reply_read", read)
    fastread._resting_until = 0.0
    second = world.clients["secret"].get(f"/v1/payments/{world.own}")
    assert second.wsgi_request.gateway_fast_read and second.content == first.content
