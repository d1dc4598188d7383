"""Customer sessions: login, logout, expiry, /v1/me, password change."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Customer, CustomerSession
from tests.customers.conftest import error_of, login
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- login ------------------------------------------------------------------------------------


def test_login_returns_token_stored_only_as_hash(publishable_client, merchant_keys, password):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    before = int(time.time())
    response = login(publishable_client, email="ADA@example.com", password=password)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "customer_session"
    assert body["token"].startswith("cst_") and len(body["token"]) > 40
    assert body["customer"]["id"] == customer.id
    assert before + 24 * 3600 - 5 <= body["expires_at"] <= int(time.time()) + 24 * 3600
    session = CustomerSession.objects.get(pk=body["id"])
    assert session.customer_id == customer.id
    assert session.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(CustomerSession.objects.filter(pk=session.pk).values().get())
    assert str(session.created_ip) == "127.0.0.1"


def test_a_token_names_its_merchant_and_that_part_cannot_be_swapped(
    publishable_client, merchant_keys, other_merchant_keys, password
):
    # Given a session token, which names its merchant (the shard key) ahead of the secret
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    token = login(publishable_client, email="ada@example.com", password=password).json()["token"]
    assert token.startswith("cst_" + merchant_keys.merchant_id.removeprefix("mer_") + "_")
    assert bearer(token).get("/v1/me").status_code == 200

    # When the merchant part is changed to another merchant's, the token resolves to nothing
    other = other_merchant_keys.merchant_id.removeprefix("mer_")
    swapped = "cst_" + other + token[len("cst_") + len(other) :]
    assert bearer(swapped).get("/v1/me").status_code == 401


def test_a_token_issued_before_tokens_named_their_merchant_still_resolves(merchant_keys, password):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    legacy = "cst_" + "x" * 43
    CustomerSession.objects.create(
        merchant_id=customer.merchant_id,
        customer=customer,
        token_hash=hashlib.sha256(legacy.encode()).hexdigest(),
        livemode=customer.livemode,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert bearer(legacy).get("/v1/me").json()["id"] == customer.id


def test_login_session_lifetime_is_configurable(publishable_client, merchant_keys, password, settings):
    settings.CUSTOMER_SESSION_TTL_SECONDS = 600
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    before = int(time.time())
    body = login(publishable_client, email="ada@example.com", password=password).json()

    assert before + 600 <= body["expires_at"] <= int(time.time()) + 600


def test_login_needs_publishable_or_secret_key(api_client, merchant_keys, password):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    response = login(api_client, email="ada@example.com", password=password)

    assert response.status_code == 401
    assert not CustomerSession.objects.exists()


def test_login_with_idempotency_key_does_not_store_the_token(publishable_client, merchant_keys, password):
    from gateway.models import IdempotencyKey

    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    response = login(publishable_client, email="ada@example.com", password=password, HTTP_IDEMPOTENCY_KEY="login-1")

    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_unknown_email_wrong_password_and_no_password_look_identical(publishable_client, merchant_keys, password):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="nopass@example.com")

    responses = [
        login(publishable_client, email="nobody@example.com", password=password),
        login(publishable_client, email="ada@example.com", password="wrong password!!"),
        login(publishable_client, email="nopass@example.com", password=password),
    ]

    assert {r.status_code for r in responses} == {401}
    errors = [{k: v for k, v in error_of(r).items() if k != "request_id"} for r in responses]
    assert errors[0] == errors[1] == errors[2]
    assert errors[0]["code"] == "invalid_credentials"
    assert not CustomerSession.objects.exists()


def test_login_validation_error(publishable_client):
    response = publishable_client.post("/v1/auth/login", {"email": "ada@example.com"}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == "password"


# --- lockout (PCI DSS 8.3.4) ------------------------------------------------------------------------


def test_ten_failures_lock_the_account_for_thirty_minutes(
    publishable_client, merchant_keys, password, relaxed_login_limits
):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    for _ in range(9):
        assert login(publishable_client, email="ada@example.com", password="wrong password!!").status_code == 401
    customer.refresh_from_db()
    assert (customer.failed_login_count, customer.locked_until) == (9, None)
    assert login(publishable_client, email="ada@example.com", password=password).status_code == 200
    customer.refresh_from_db()
    assert customer.failed_login_count == 0  # a success resets the consecutive count

    before = timezone.now()
    for _ in range(10):
        login(publishable_client, email="ada@example.com", password="wrong password!!")
    locked = login(publishable_client, email="ada@example.com", password=password)

    assert locked.status_code == 401
    assert error_of(locked)["code"] == "invalid_credentials"  # a lock does not reveal the account either
    customer.refresh_from_db()
    assert before + timedelta(minutes=30) <= customer.locked_until <= timezone.now() + timedelta(minutes=30)
    assert CustomerSession.objects.filter(customer=customer).count() == 1  # only the session from before


def test_login_works_again_once_the_lock_expires(publishable_client, merchant_keys, password, relaxed_login_limits):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    for _ in range(10):
        login(publishable_client, email="ada@example.com", password="wrong password!!")
    assert login(publishable_client, email="ada@example.com", password=password).status_code == 401

    Customer.objects.filter(pk=customer.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    response = login(publishable_client, email="ada@example.com", password=password)

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.failed_login_count, customer.locked_until) == (0, None)


# --- rate limits (sliding windows) -------------------------------------------------------------------


def test_login_rate_limited_per_email(publishable_client, merchant_keys, password, settings, login_clock):
    settings.CUSTOMER_LOGIN_RATE_PER_EMAIL = "3/m"
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="bob@example.com", password=password)

    statuses = [login(publishable_client, email="ada@example.com", password="wrong!").status_code for _ in range(3)]
    limited = login(publishable_client, email="Ada@Example.com", password=password)
    other_email = login(publishable_client, email="bob@example.com", password=password)

    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    error = error_of(limited)
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limited")
    assert int(limited["Retry-After"]) >= 1
    assert other_email.status_code == 200
    assert CustomerSession.objects.count() == 1


def test_login_rate_limited_per_client_ip(publishable_client, merchant_keys, password, settings, login_clock):
    settings.CUSTOMER_LOGIN_RATE_PER_IP = "3/m"
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    for i in range(3):
        login(publishable_client, email=f"guess{i}@example.com", password="x", REMOTE_ADDR="203.0.113.7")
    limited = login(publishable_client, email="ada@example.com", password=password, REMOTE_ADDR="203.0.113.7")
    elsewhere = login(publishable_client, email="ada@example.com", password=password, REMOTE_ADDR="198.51.100.2")

    assert limited.status_code == 429
    assert error_of(limited)["type"] == "rate_limit_error"
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("limit_by", ["ip", "email"])
def test_login_limits_are_sliding_windows(publishable_client, merchant_keys, password, settings, login_clock, limit_by):
    """No 60 s ever passes more attempts than the limit, even across a minute boundary."""
    settings.CUSTOMER_LOGIN_RATE_PER_IP = "3/m" if limit_by == "ip" else "1000/m"
    settings.CUSTOMER_LOGIN_RATE_PER_EMAIL = "3/m" if limit_by == "email" else "1000/m"
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)

    def attempt() -> int:
        return login(
            publishable_client, email="ada@example.com", password="wrong!", REMOTE_ADDR="203.0.113.9"
        ).status_code

    # Given three attempts in the last second of a minute
    before = [attempt() for _ in range(3)]
    # When more come two seconds later (a new minute) and again 57 s after that (59 s after the first)
    login_clock.advance(2)
    after_boundary = [attempt() for _ in range(3)]
    login_clock.advance(57)
    still_inside = attempt()
    # Then only once the first three are 60 s old do attempts pass again, as many as have left the window
    login_clock.advance(1)
    freed = [attempt() for _ in range(4)]

    assert before == [401, 401, 401]
    assert after_boundary == [429, 429, 429]
    assert still_inside == 429
    assert freed == [401, 401, 401, 429]


def test_login_limit_retry_after_says_when_the_oldest_attempt_leaves_the_window(
    publishable_client, merchant_keys, settings, login_clock
):
    settings.CUSTOMER_LOGIN_RATE_PER_IP = "2/m"
    login(publishable_client, email="x@example.com", password="x", REMOTE_ADDR="203.0.113.10")
    login_clock.advance(20)
    login(publishable_client, email="y@example.com", password="x", REMOTE_ADDR="203.0.113.10")
    login_clock.advance(15)

    limited = login(publishable_client, email="z@example.com", password="x", REMOTE_ADDR="203.0.113.10")

    assert limited.status_code == 429
    assert limited["Retry-After"] == "25"


# --- authentication with the token ---------------------------------------------------------------------


def test_me_returns_own_profile_without_secrets(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)

    response = client.get("/v1/me")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["email"], body["object"]) == (client.customer_id, "ada@example.com", "customer")
    assert not {"password", "metadata", "failed_login_count", "locked_until", "token"} & set(body)


@pytest.mark.parametrize("token", ["cst_unknown", "cst_", "cst_" + "a" * 43])
def test_unknown_token_is_401(token):
    response = bearer(token).get("/v1/me")

    assert response.status_code == 401
    error = error_of(response)
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_session_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_without_credentials_is_401(api_client):
    assert api_client.get("/v1/me").status_code == 401


def test_me_with_secret_key_is_403(secret_client):
    response = secret_client.get("/v1/me")

    assert response.status_code == 403
    assert error_of(response)["type"] == "permission_error"


def test_expired_token_is_401_even_when_cached(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    assert client.get("/v1/me").status_code == 200  # resolution now cached

    CustomerSession.objects.filter(pk=client.session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    from django.core.cache import cache

    from customers.cache import session_cache_key

    key = session_cache_key(hashlib.sha256(client.token.encode()).hexdigest())
    cached = cache.get(key)
    cached["expires_at"] = time.time() - 1
    cache.set(key, cached)

    assert client.get("/v1/me").status_code == 401


# --- logout ------------------------------------------------------------------------------------------


def test_logout_revokes_only_the_presented_token(merchant_keys, password):
    first = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    second_token = login(merchant_keys.client("publishable"), email="ada@example.com", password=password).json()
    second = bearer(second_token["token"])
    assert first.get("/v1/me").status_code == 200  # cache the resolution: logout must still win

    response = first.post("/v1/auth/logout", {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"object": "logout", "revoked_sessions": 1}
    assert first.get("/v1/me").status_code == 401
    assert first.post("/v1/auth/logout", {}, format="json").status_code == 401
    assert second.get("/v1/me").status_code == 200
    assert CustomerSession.objects.get(pk=first.session_id).revoked_at is not None
    assert CustomerSession.objects.get(pk=second_token["id"]).revoked_at is None


def test_logout_all_revokes_every_session_of_the_customer(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    other = bearer(
        login(merchant_keys.client("publishable"), email="ada@example.com", password=password).json()["token"]
    )
    bystander = customer_client(merchant_keys=merchant_keys, email="bob@example.com", password=password)
    assert other.get("/v1/me").status_code == 200

    response = client.post("/v1/auth/logout", {"all": True}, format="json")

    assert response.json()["revoked_sessions"] == 2
    assert client.get("/v1/me").status_code == 401
    assert other.get("/v1/me").status_code == 401
    assert bystander.get("/v1/me").status_code == 200
    assert not CustomerSession.objects.filter(customer_id=client.customer_id, revoked_at__isnull=True).exists()


def test_logout_rejects_unknown_parameters(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)

    response = client.post("/v1/auth/logout", {"everything": True}, format="json")

    assert response.status_code == 400
    assert client.get("/v1/me").status_code == 200


# --- /v1/me updates ----------------------------------------------------------------------------------


def test_patch_me_updates_own_profile(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)

    response = client.patch("/v1/me", {"name": "Ada", "phone": "+14155550123"}, format="json")

    assert response.status_code == 200, response.content
    row = Customer.objects.get(pk=client.customer_id)
    assert (row.name, row.phone) == ("Ada", "+14155550123")


@pytest.mark.parametrize("field", ["metadata", "id", "password", "failed_login_count", "locked_until", "merchant"])
def test_patch_me_refuses_other_fields(merchant_keys, password, field):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    before = Customer.objects.filter(pk=client.customer_id).values().get()

    response = client.patch("/v1/me", {field: "x"}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == field
    assert Customer.objects.filter(pk=client.customer_id).values().get() == before


# --- password change ---------------------------------------------------------------------------------


def test_password_change_revokes_other_sessions_keeps_this_one(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    other = bearer(
        login(merchant_keys.client("publishable"), email="ada@example.com", password=password).json()["token"]
    )
    assert other.get("/v1/me").status_code == 200

    response = client.post(
        "/v1/me/password",
        {"current_password": password, "new_password": "an entirely new passphrase"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert client.get("/v1/me").status_code == 200
    assert other.get("/v1/me").status_code == 401
    assert check_password("an entirely new passphrase", Customer.objects.get(pk=client.customer_id).password)
    publishable = merchant_keys.client("publishable")
    assert login(publishable, email="ada@example.com", password=password).status_code == 401
    assert login(publishable, email="ada@example.com", password="an entirely new passphrase").status_code == 200


def test_password_change_with_wrong_current_password(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    hash_before = Customer.objects.get(pk=client.customer_id).password

    response = client.post(
        "/v1/me/password",
        {"current_password": "not it at all", "new_password": "an entirely new passphrase"},
        format="json",
    )

    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("incorrect_password", "current_password")
    row = Customer.objects.get(pk=client.customer_id)
    assert row.password == hash_before
    assert row.failed_login_count == 1


def test_password_change_validates_the_new_password(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)

    response = client.post("/v1/me/password", {"current_password": password, "new_password": "short"}, format="json")

    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("password_invalid", "new_password")
    assert check_password(password, Customer.objects.get(pk=client.customer_id).password)


def test_password_change_refused_while_locked(merchant_keys, password):
    client = customer_client(merchant_keys=merchant_keys, password=password)
    Customer.objects.filter(pk=client.customer_id).update(locked_until=timezone.now() + timedelta(minutes=30))

    response = client.post(
        "/v1/me/password", {"current_password": password, "new_password": "an entirely new passphrase"}, format="json"
    )

    assert response.status_code == 400
    assert check_password(password, Customer.objects.get(pk=client.customer_id).password)


def test_bad_tokens_spend_the_client_ip_rate_limit_bucket(settings):
    settings.RATE_LIMIT_PER_SECOND = 0.01
    settings.RATE_LIMIT_BURST = 2
    client = bearer("cst_guessing")

    statuses = [client.get("/v1/me").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_password_change_with_idempotency_key_stores_nothing(merchant_keys, password):
    from gateway.models import IdempotencyKey

    client = customer_client(merchant_keys=merchant_keys, password=password)

    response = client.post(
        "/v1/me/password",
        {"current_password": password, "new_password": "an entirely new passphrase"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="pw-1",
    )

    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_login_query_budget(publishable_client, merchant_keys, password, django_assert_max_num_queries):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password)
    login(publishable_client, email="ada@example.com", password=password)  # warm the API-key cache

    with django_assert_max_num_queries(2):  # customer by email, session insert
        assert login(publishable_client, email="ada@example.com", password=password).status_code == 200
