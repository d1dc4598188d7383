"""Test helpers other apps use for ``/v1/me/...`` tests."""

import itertools

from rest_framework.test import APIClient

from customers.services import customer_create
from merchants.models import Merchant
from merchants.services import api_key_create

DEFAULT_PASSWORD = "correct horse battery staple"
_emails = itertools.count(1)


def live_client(*, merchant_id: str, kind: str = "secret") -> APIClient:
    """A client carrying a new live key (``sk_live_`` / ``pk_live_``) of the merchant."""
    created = api_key_create(merchant=Merchant.objects.get(id=merchant_id), kind=kind, livemode=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    return client


def customer_client(
    *, merchant_keys, email: str | None = None, password: str = DEFAULT_PASSWORD, livemode: bool = False
) -> APIClient:
    """A client authorised as a new customer of ``merchant_keys``' merchant.

    Creates the customer with a password, logs in through ``POST /v1/auth/login`` with the
    publishable key (a new ``pk_live_`` key and a live customer with ``livemode=True``) and
    returns an APIClient carrying the ``cst_`` token. Attributes: ``customer_id``,
    ``session_id``, ``token``. ``email`` defaults to a fresh unique address.
    """
    if email is None:
        email = f"customer-{next(_emails)}@example.com"
    customer = customer_create(merchant_id=merchant_keys.merchant_id, email=email, password=password, livemode=livemode)
    publishable = (
        live_client(merchant_id=merchant_keys.merchant_id, kind="publishable")
        if livemode
        else merchant_keys.client("publishable")
    )
    login = publishable.post("/v1/auth/login", {"email": email, "password": password}, format="json")
    assert login.status_code == 200, login.content
    body = login.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    client.customer_id = customer.id
    client.session_id = body["id"]
    client.token = body["token"]
    return client
