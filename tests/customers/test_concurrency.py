"""Races over real connections: each thread has its own database connection."""

import pytest
from rest_framework.test import APIClient

from customers.models import Customer
from customers.services import customer_create
from gateway.errors import Conflict
from tests.races import run_together

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_two_concurrent_api_creates_with_one_email_give_201_and_409(merchant_keys):
    def create(index: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant_keys.secret_key}")
        email = "ada@example.com" if index == 0 else "ADA@example.com"
        return client.post("/v1/customers", {"email": email}, format="json")

    responses = run_together(2, create)

    assert sorted(r.status_code for r in responses) == [201, 409], [r.content for r in responses]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json()["error"]["code"] == "customer_exists"
    assert Customer.objects.filter(merchant_id=merchant_keys.merchant_id).count() == 1


def test_concurrent_service_creates_exactly_one_wins(merchant_keys):
    results = run_together(6, lambda i: customer_create(merchant_id=merchant_keys.merchant_id, email="ada@example.com"))

    winners = [r for r in results if isinstance(r, Customer)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1
    assert len(conflicts) == 5, results
    assert {c.code for c in conflicts} == {"customer_exists"}
    assert Customer.objects.count() == 1


def test_concurrent_failed_logins_all_count_towards_the_lock(merchant_keys, settings):
    from tests.customers.factories import CustomerFactory
    from tests.customers.helpers import DEFAULT_PASSWORD

    settings.CUSTOMER_LOGIN_RATE_PER_IP = "1000/m"
    settings.CUSTOMER_LOGIN_RATE_PER_EMAIL = "1000/m"
    customer = CustomerFactory(
        merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=DEFAULT_PASSWORD
    )

    def fail(index: int):
        client = merchant_keys.client("publishable")
        return client.post("/v1/auth/login", {"email": "ada@example.com", "password": "wrong!"}, format="json")

    responses = run_together(10, fail)

    assert [r.status_code for r in responses] == [401] * 10
    customer.refresh_from_db()
    assert customer.locked_until is not None
    assert customer.failed_login_count == 0
