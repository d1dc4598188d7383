"""The client address behind trusted proxies only (gateway.forwarded.client_ip)."""

import pytest
from django.test import RequestFactory

from gateway.forwarded import client_ip


def request_from(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_a_header_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_the_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(request_from("127.0.0.1", "198.51.100.1")) == "198.51.100.1"


def test_a_client_cannot_choose_its_address_by_sending_the_header_itself(settings):
    # the client wrote "1.2.3.4"; a proxy that appends would add the real peer after it
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    assert client_ip(request_from("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.5")) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", ["", "not-an-ip", "198.51.100.1, junk"])
def test_a_missing_or_malformed_chain_falls_back_to_the_peer(settings, forwarded):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(request_from("127.0.0.1", forwarded)) == "127.0.0.1"


def test_ipv6_proxies_and_clients(settings):
    settings.TRUSTED_PROXIES = ["::1/128"]
    assert client_ip(request_from("::1", "2001:db8::5")) == "2001:db8::5"
