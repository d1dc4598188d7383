"""The admin's sign-in form is throttled per client IP and per username (django-ratelimit, in the
shared cache): past the rate it answers 429 without checking the password."""

import time
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

PASSWORD = "a-long-admin-password-1"


@pytest.fixture(autouse=True)
def _one_rate_window(monkeypatch):
    """django-ratelimit counts in fixed windows of wall-clock time, each key's edge somewhere in the
    minute: a test whose requests straddled that edge (more likely the slower the machine) would
    see the count start again. Its clock is frozen, so a test's requests all fall in one window."""
    import django_ratelimit.core

    now = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


def _sign_in(client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_right_password_signs_in(client, operator):
    response = _sign_in(client, "ops", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_guessing_one_username_is_stopped_even_with_the_right_password_then(client, operator, settings):
    settings.ADMIN_LOGIN_RATE_PER_USERNAME = "3/m"
    # given: three wrong guesses from three addresses (the form shows its error each time)
    for n in range(3):
        assert _sign_in(client, "OPS", "wrong", ip=f"198.51.100.{n}").status_code == 200
    # when: the right password comes next, within the minute
    response = _sign_in(client, "ops", PASSWORD, ip="198.51.100.9")
    # then: refused before the password is checked; nobody is signed in
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_usernames_is_stopped(client, operator, settings):
    settings.ADMIN_LOGIN_RATE_PER_IP = "4/m"
    for n in range(4):
        assert _sign_in(client, f"user{n}", "wrong").status_code == 200
    assert _sign_in(client, "ops", PASSWORD).status_code == 429
    # another address is not affected
    assert _sign_in(client, "ops", PASSWORD, ip="192.0.2.1").status_code == 302
