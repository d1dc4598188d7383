"""The functions other apps call: selectors, services, MetadataField, the session purge task."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from customers.models import Customer, CustomerSession
from customers.selectors import customer_contact, customer_get
from customers.serializers import MetadataField
from customers.services import InvalidCredentials, customer_create, customer_erase, customer_login
from customers.tasks import customer_sessions_purge
from gateway.errors import InvalidRequest, NotFound
from tests.customers.factories import CustomerFactory, CustomerSessionFactory

pytestmark = pytest.mark.django_db


def test_customer_get_is_scoped_to_the_merchant(merchant_keys, other_merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)

    assert customer_get(merchant_id=merchant_keys.merchant_id, customer_id=customer.id) == customer
    with pytest.raises(NotFound) as raised:
        customer_get(merchant_id=other_merchant_keys.merchant_id, customer_id=customer.id)
    assert raised.value.status_code == 404


def test_customer_get_still_finds_erased_customers(merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)
    customer_erase(merchant_id=merchant_keys.merchant_id, customer_id=customer.id)

    found = customer_get(merchant_id=merchant_keys.merchant_id, customer_id=customer.id)

    assert found.is_erased


def test_customer_contact_before_and_after_erasure(merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com", name="Ada")

    assert customer_contact(customer_id=customer.id) == ("ada@example.com", "Ada")
    customer_erase(merchant_id=merchant_keys.merchant_id, customer_id=customer.id)
    assert customer_contact(customer_id=customer.id) == (None, "")
    with pytest.raises(NotFound):
        customer_contact(customer_id="cus_missing")


def test_customer_create_and_login_services(merchant_keys, password):
    customer = customer_create(
        merchant_id=merchant_keys.merchant_id, email=" Ada@Example.com ", metadata={"a": "b"}, password=password
    )

    session, token = customer_login(
        merchant_id=merchant_keys.merchant_id, email="ada@example.com", password=password, client_ip="10.1.2.3"
    )

    assert Customer.objects.get(pk=customer.pk).email == "Ada@Example.com"
    assert token.startswith("cst_")
    assert session.customer_id == customer.id
    assert CustomerSession.objects.get(pk=session.pk).created_ip == "10.1.2.3"
    with pytest.raises(InvalidCredentials):
        customer_login(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password="no", client_ip="x")


def test_customer_create_validates_the_password(merchant_keys):
    with pytest.raises(InvalidRequest) as raised:
        customer_create(merchant_id=merchant_keys.merchant_id, email="ada@example.com", password="short")

    assert raised.value.param == "password"
    assert not Customer.objects.exists()


def test_metadata_field_is_reusable_in_other_serializers():
    class OrderLike(serializers.Serializer):
        metadata = MetadataField(required=False)

    good = OrderLike(data={"metadata": {"sku": "A-1"}})
    bad = OrderLike(data={"metadata": {"sku": 5}})

    assert good.is_valid() and good.validated_data == {"metadata": {"sku": "A-1"}}
    assert not bad.is_valid() and "metadata" in bad.errors


def test_purge_deletes_only_old_expired_or_revoked_sessions():
    old = timezone.now() - timedelta(days=8)
    expired = CustomerSessionFactory(expires_at=old)
    revoked = CustomerSessionFactory(revoked_at=old)
    recently_revoked = CustomerSessionFactory(revoked_at=timezone.now())
    live = CustomerSessionFactory()

    deleted = customer_sessions_purge.delay().get(timeout=10)

    assert deleted == 2
    remaining = set(CustomerSession.objects.values_list("pk", flat=True))
    assert remaining == {recently_revoked.pk, live.pk}
    assert not {expired.pk, revoked.pk} & remaining
