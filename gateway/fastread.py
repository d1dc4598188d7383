"""A cache hit of ``GET`` (or ``HEAD``) of an API object, answered in one Redis round trip without DRF.

Through its DRF view, a hit of ``GET /v1/payments/{id}`` costs four Redis round trips (the API
key's cached resolution, the token bucket, the cache's token, the entry) plus DRF's request
wrapping, negotiation and rendering: about seven times the CPU of a bare Django view
(docs/performance.md). This middleware answers such a hit with one Lua script doing those four
steps atomically, and hands every other request to the view, which answers it as it always has:

* credential: the script compares the key's cached resolution with the bytes this process last
  decoded a principal from (kept per process, by key hash). Equal: the principal is exactly the
  one the view's authentication would build from the cache. Different or absent (revoked, expired,
  limits changed): nothing is taken and the view answers (resolving the key as always);
* bucket: the same Lua function as ``gateway.ratelimit.bucket_take``, on the same key with the same
  rate and burst. A refusal, and a miss after a token was taken, go to the view with the result
  (``request.gateway_bucket_taken``): no request takes two tokens;
* entry: the token, then the data key under that token, which names merchant and mode (the
  generational cache's rule, ``gateway.cache``). Another merchant's object, or the other mode's,
  is a miss, answered by the view (its 404);
* answer: the entry rendered by DRF's JSON renderer with the headers the view sets (Content-Type,
  Allow); the principal is attached for logging and used (``api_key_touch``) as authentication does.

Where it sits: after the middleware that shape every answer (request id, instance, Cache-Control,
rate-limit headers, the access log, security headers), which treat both paths alike, and before
the browser-facing ones, which a hit passes over (``_PASSED_OVER``): sessions, CSRF, messages and
authentication act only on cookies or in a view, so a request carrying a ``Cookie`` goes to the
view; ``CommonMiddleware`` (allowed hosts, user agents, ``Content-Length``) and the clickjacking
header are run here, by their own methods, as they would run around the view. A middleware not
in that table after this one is refused at start-up (``ImproperlyConfigured``), so none is passed
over unread. Passing them over is most of what a hit saves against the bare view that pays them.

Only plain requests qualify: GET or HEAD, no cookie, no query string, an ``Accept`` the view answers with
plain ``application/json``, a bearer token of a registered kind whose principal the view's
permissions admit, an id of letters, digits and ``_``. Redis failing (down, slow): the view
answers (cache reads fall back to the database, the limiter fails open) and the fast path rests
for a second, so a dead Redis is not waited for twice per request. ``FAST_READS_ENABLED=0`` turns
it off.

Apps register from their ``AppConfig.ready``: what may be read this way (``fast_read_register``: a
named URL and the cache its view answers from) and how their credentials are cached
(``fast_read_credentials_register``). The script builds the data key from the token it reads:
standalone Redis (what django-redis's default client speaks), not Redis Cluster. The script and
the connection it runs on are ``gateway.fastread_script``'s; the bytes on the wire ``gateway.resp``'s.
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.urls import resolve, reverse
from rest_framework.renderers import JSONRenderer

from .authentication import bearer_token, principal_attach_http
from .cache import GenerationalCache
from .fastread_script import script_run
from .permissions import principal_kinds
from .principal import Principal
from .ratelimit import (
    BucketResult,
    bucket_parameters,
    bucket_redis_key,
    bucket_result,
    uses_redis,
)

logger = logging.getLogger("gateway.fastread")

# What DRF's negotiation answers with plain ``application/json`` (a parameter such as indent, or
# a browser's list, goes to the view).
_PLAIN_ACCEPT = frozenset({"*/*", "application/json"})
_ID = re.compile(r"[A-Za-z0-9_]{1,100}")
_MARK = "fastreadmark"  # an id placeholder matching _ID, to find where the URL carries the id
_REST_SECONDS = 1.0
_KNOWN_MAX = 10_000


@dataclass(frozen=True)
class _Credentials:
    prefixes: tuple[str, ...]
    cache_key: Callable[[str], str]
    principal: Callable[[Any], Principal | None]
    used: Callable[[Principal], None]


@dataclass(frozen=True)
class _Registration:
    url_name: str
    kwarg: str
    cache: GenerationalCache
    view: str


@dataclass(frozen=True)
class _Route:
    prefix: str
    suffix: str
    cache: GenerationalCache
    view: str
    allow: str
    kinds: frozenset[str]


_credentials: list[_Credentials] = []
_registrations: list[_Registration] = []
_routes: list[_Route] | None = None
_known: dict[str, tuple[bytes, Principal]] = {}  # credential cache key -> (cached bytes, principal)
# Cached entry -> its rendering. The body is a function of the entry's bytes alone, so an entry
# read again (a payment polled for its status) is not unpickled and rendered again.
_rendered: dict[bytes, bytes] = {}
_RENDERED_MAX = 1_000
_renderer = JSONRenderer()
_resting_until = 0.0
_last_warning = 0.0


def fast_read_register(*, url_name: str, kwarg: str, cache: GenerationalCache, view: str = "") -> None:
    """The view at ``url_name`` answers GET with ``cache``'s entry for the object whose id is the
    URL's ``kwarg``, for the caller's merchant and mode, under ``view``; a hit may be answered here."""
    global _routes
    _registrations.append(_Registration(url_name=url_name, kwarg=kwarg, cache=cache, view=view))
    _routes = None


def fast_read_credentials_register(
    *,
    prefixes: tuple[str, ...],
    cache_key: Callable[[str], str],
    principal: Callable[[Any], Principal | None],
    used: Callable[[Principal], None],
) -> None:
    """Bearer tokens starting with ``prefixes`` resolve through the cache: ``cache_key(token)`` is
    where the resolution is cached, ``principal(cached value)`` the principal authentication builds
    from it (None: refused), ``used(principal)`` what authentication does on each use."""
    _credentials.append(_Credentials(prefixes=prefixes, cache_key=cache_key, principal=principal, used=used))


def _route(registration: _Registration) -> _Route | None:
    try:
        path = reverse(registration.url_name, kwargs={registration.kwarg: _MARK})
        view_class = resolve(path).func.view_class
    except Exception:  # not in this URLconf: its requests go to whatever view answers them
        logger.warning("fast read not used: no such URL", extra={"url_name": registration.url_name})
        return None
    prefix, _, suffix = path.partition(_MARK)
    view = view_class()
    if hasattr(view, "get") and not hasattr(view, "head"):
        view.head = view.get  # as Django's View.setup does before DRF computes Allow
    renderers = view.get_renderers()
    if len(renderers) != 1 or type(renderers[0]) is not JSONRenderer:
        logger.warning("fast read not used: the view negotiates", extra={"url_name": registration.url_name})
        return None
    return _Route(
        prefix=prefix,
        suffix=suffix,
        cache=registration.cache,
        view=registration.view,
        allow=", ".join(view.allowed_methods),
        kinds=principal_kinds(view),
    )


def _match(path: str) -> tuple[_Route, str] | None:
    global _routes
    if _routes is None:
        _routes = [route for route in map(_route, _registrations) if route is not None]
    for route in _routes:
        if path.startswith(route.prefix) and path.endswith(route.suffix):
            object_id = path[len(route.prefix) : len(path) - len(route.suffix)]
            if _ID.fullmatch(object_id):
                return route, object_id
    return None


def _learn(backend, key: str, cached: bytes | None, credentials: _Credentials) -> tuple[bytes, Principal] | None:
    """Remember the principal ``cached`` (the bytes in Redis) stands for; None when it stands for none."""
    try:
        principal = None if cached is None else credentials.principal(backend.client.decode(cached))
    except Exception:  # not a resolution this release reads: the view's authentication decides
        principal = None
    if principal is None:
        _known.pop(key, None)
        return None
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    _known[key] = (cached, principal)
    return cached, principal


def _rest(exc: Exception) -> None:
    global _resting_until, _last_warning
    now = time.monotonic()
    _resting_until = now + _REST_SECONDS
    if now - _last_warning > 10:
        _last_warning = now
        logger.warning("fast reads unavailable, views answer", extra={"error": type(exc).__name__})


def _answer(request: HttpRequest, requests_pass: Callable[[HttpRequest], bool]) -> HttpResponse | None:
    """The response to a cache hit, or None: the view answers (told of any token taken).
    ``requests_pass``: whether the middleware a hit passes over would let the request through."""
    meta = request.META
    if meta.get("QUERY_STRING") or meta.get("HTTP_ACCEPT", "*/*") not in _PLAIN_ACCEPT:
        return None
    found = _match(request.path)  # with the script prefix, as reverse() spelled the route
    if found is None:
        return None
    route, object_id = found
    raw_token = bearer_token(request)
    if raw_token is None:
        return None
    credentials = next((c for c in _credentials if raw_token.startswith(c.prefixes)), None)
    backend = caches["default"]
    if credentials is None or time.monotonic() < _resting_until or not uses_redis(backend):
        return None
    if not requests_pass(request):  # here, not earlier: only a would-be hit pays it twice
        return None
    key = backend.make_key(credentials.cache_key(raw_token))
    try:
        client = backend.client.get_client(write=True)
        known = _known.get(key) or _learn(backend, key, client.get(key), credentials)
        if known is None:
            return None  # not cached, or refused: the view's authentication decides
        cached, principal = known
        keys = route.cache.redis_keys(
            object_id=object_id, merchant_id=principal.merchant_id, livemode=principal.livemode, view=route.view
        )
        if principal.kind not in route.kinds or keys is None:
            return None
        rate, burst = bucket_parameters(rate=principal.rate_limit_per_second, burst=principal.rate_limit_burst)
        limited = settings.RATE_LIMIT_ENABLED
        reply = script_run(
            client,
            [key, bucket_redis_key(principal.rate_limit_key), keys[0]],
            [cached, rate if limited else "", burst, keys[1]],
        )
    except Exception as exc:  # Redis down or slow: the view answers as it does without Redis
        _rest(exc)
        return None
    if reply[0] == 0:
        _learn(backend, key, reply[1], credentials)  # changed: the view resolves it this time
        return None
    result = bucket_result(allowed=reply[1], millitokens=reply[2], rate=rate, burst=burst) if limited else None
    if result is not None:
        request.gateway_bucket_taken = (principal.rate_limit_key, result)
    entry = reply[3] if len(reply) > 3 else None
    if entry is None:
        return None  # refused, or a miss: the view answers, with the token already taken
    body = _rendered.get(entry)
    if body is None:
        try:
            body = _renderer.render(backend.client.decode(entry))
        except Exception:  # an entry this release cannot read: the view reads it (or the database)
            logger.warning("fast read: cached entry not readable", extra={"object_id": object_id})
            return None
        if len(_rendered) >= _RENDERED_MAX:
            _rendered.clear()
        _rendered[entry] = body
    return _respond(request, route, body, principal, credentials, result)


def _respond(
    request: HttpRequest,
    route: _Route,
    body: bytes,
    principal: Principal,
    credentials: _Credentials,
    result: BucketResult | None,
) -> HttpResponse:
    # What the view's Response and DRF's finalize_response set; the rest is the middleware's.
    response = HttpResponse(body, content_type="application/json")
    response["Allow"] = route.allow
    credentials.used(principal)
    principal_attach_http(request, principal)
    if result is not None:
        request.gateway_ratelimit_headers = result.headers()
    request.gateway_fast_read = True  # for tests and debugging: which path answered
    return response


# The middleware a hit may pass over (those after this one in MIDDLEWARE), and what a hit needs of
# each: None, it acts only on a request's cookies (none on a hit) or around a view (none runs);
# a class, run here by its own process_request and process_response, in MIDDLEWARE's order.
_PASSED_OVER: dict[str, type | None] = {
    "django.contrib.sessions.middleware.SessionMiddleware": None,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": None,
    "django.contrib.auth.middleware.AuthenticationMiddleware": None,
    "django.contrib.messages.middleware.MessageMiddleware": None,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}
_PATH = f"{__name__}.FastReadMiddleware"


def _passed_over(get_response) -> list:
    """Instances of the middleware after this one that a hit runs here; ImproperlyConfigured for
    one it does not know to be idle for a hit."""
    after = settings.MIDDLEWARE[settings.MIDDLEWARE.index(_PATH) + 1 :] if _PATH in settings.MIDDLEWARE else []
    unknown = [path for path in after if path not in _PASSED_OVER]
    if settings.CSRF_USE_SESSIONS and "django.middleware.csrf.CsrfViewMiddleware" in after:
        # Then it reads the session of every request, cookie or not, and the answer gets Vary: Cookie.
        unknown.append("django.middleware.csrf.CsrfViewMiddleware (with CSRF_USE_SESSIONS)")
    if unknown:
        raise ImproperlyConfigured(
            f"{_PATH} would pass over {', '.join(unknown)} on a cache hit: put it before {_PATH} in MIDDLEWARE,"
            " or add it to gateway.fastread._PASSED_OVER with what a hit needs of it"
        )
    return [run(get_response) for run in map(_PASSED_OVER.get, after) if run is not None]


class FastReadMiddleware:
    """Answers registered cache hits (module docstring) for the middleware after it, passes the rest on."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.passed_over = _passed_over(get_response)

    def __call__(self, request: HttpRequest):
        if (
            request.method in ("GET", "HEAD")
            and _registrations
            and settings.FAST_READS_ENABLED
            and not request.META.get("HTTP_COOKIE")  # the test client sends an empty one
        ):
            try:
                response = _answer(request, self._requests_pass)
            except Exception:  # (the database failing under api_key_touch): the view answers, in full
                logger.warning("fast read failed, the view answers", exc_info=True)
                response = None
            if response is not None:
                for middleware in reversed(self.passed_over):
                    response = middleware.process_response(request, response)
                return response
        return self.get_response(request)

    def _requests_pass(self, request: HttpRequest) -> bool:
        """Whether the passed-over middleware would let the request through to the view untouched
        (a host not allowed, a refused user agent: no; their own answer is given below)."""
        try:
            return all(
                middleware.process_request(request) is None
                for middleware in self.passed_over
                if hasattr(middleware, "process_request")
            )
        except Exception:
            return False
