"""The receiver verification snippet, taken verbatim from the docs (the same helper runs it against
real deliveries in test_delivery.py and test_worker_delivery.py)."""

import hashlib
import hmac
from types import SimpleNamespace

import pytest

from events.signing import signature_header

from .helpers import README_DOC, WEBHOOKS_DOC, load_verifier, verification_snippet

# Every document that shows the snippet; each must verify exactly like the gateway signs.
SNIPPET_DOCS = [README_DOC, WEBHOOKS_DOC]
SECRET = "whsec_docs_test"
BODY = b'{"id":"evt_1","object":"event"}'


# The receiver's clock, frozen: the snippet reads time.time() itself, and a tolerance check 1 s
# from its edge must not depend on how long the machine takes between two lines of a test.
NOW = 1_767_225_600


@pytest.fixture(params=SNIPPET_DOCS, ids=lambda p: p.name)
def verify(request):
    verifier = load_verifier(request.param)
    verifier.__globals__["time"] = SimpleNamespace(time=lambda: float(NOW))  # the snippet's `import time`
    return verifier


def _header(timestamp: int, *secrets: str) -> str:
    return signature_header(secrets_newest_first=list(secrets), timestamp=timestamp, payload=BODY)


def test_accepts_a_fresh_signature_and_either_secret_during_rotation(verify):
    now = NOW
    assert verify(BODY, _header(now, SECRET), SECRET)
    assert verify(BODY, _header(now - 299, SECRET), SECRET)
    assert verify(BODY, _header(now - 300, SECRET), SECRET) and verify(BODY, _header(now + 300, SECRET), SECRET)
    assert verify(BODY, _header(now, "whsec_new", SECRET), SECRET)
    assert verify(BODY, _header(now, "whsec_new", SECRET), "whsec_new")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        "t=123",
        "t=NOW,v1=" + "0" * 64,
        "t=NOW,v1=é",
        "t=OLD,v1=SIG_OLD",
        "t=FUTURE,v1=SIG_FUTURE",
        "t=NOW,v0=SIG_NOW",
    ],
)
def test_rejects_bad_stale_or_foreign_headers(verify, header):
    now = NOW
    sigs = {
        "SIG_NOW": _header(now, SECRET).split("v1=")[1],
        "SIG_OLD": _header(now - 301, SECRET).split("v1=")[1],
        "SIG_FUTURE": _header(now + 301, SECRET).split("v1=")[1],
    }
    header = header.replace("NOW", str(now)).replace("OLD", str(now - 301)).replace("FUTURE", str(now + 301))
    for name, value in sigs.items():
        header = header.replace(name, value)
    assert verify(BODY, header, SECRET) is False


def test_rejects_a_tampered_body_or_wrong_secret(verify):
    now = NOW
    header = _header(now, SECRET)
    assert verify(BODY + b" ", header, SECRET) is False
    assert verify(BODY, header, "whsec_other") is False


def test_the_snippet_matches_the_documented_algorithm(verify):
    now = NOW
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert _header(now, SECRET) == f"t={now},v1={digest}"
    assert verify(BODY, f"t={now},v1={digest}", SECRET)


def test_the_snippet_uses_a_constant_time_compare_and_the_300s_tolerance():
    from .helpers import verification_snippet

    source = verification_snippet(WEBHOOKS_DOC)
    assert "hmac.compare_digest" in source and "tolerance: int = 300" in source


def test_the_readme_shows_the_same_snippet_as_the_webhook_docs():
    assert verification_snippet(README_DOC) == verification_snippet(WEBHOOKS_DOC)
