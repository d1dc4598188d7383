"""Django admin for customers: search, filters, read-only security fields, erasure action."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from customers.models import Customer, CustomerSession
from tests.customers.factories import CustomerFactory
from tests.customers.helpers import customer_client

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/customers/customer/"


def test_search_by_email_and_by_id(admin_client, merchant_keys):
    ada = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="ada@example.com")
    bob = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="bob@example.com")

    by_email = admin_client.get(CHANGELIST, {"q": "ada@"})
    by_id = admin_client.get(CHANGELIST, {"q": bob.id})

    assert by_email.status_code == 200
    assert ada.id in by_email.content.decode() and bob.id not in by_email.content.decode()
    assert bob.id in by_id.content.decode() and ada.id not in by_id.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"erased": "yes"}, "erased"), ({"erased": "no"}, "active"), ({"locked": "yes"}, "locked")],
)
def test_filters(admin_client, merchant_keys, query, expected):
    customers = {
        "active": CustomerFactory(merchant_id=merchant_keys.merchant_id),
        "erased": CustomerFactory(merchant_id=merchant_keys.merchant_id, email=None, erased_at=timezone.now()),
        "locked": CustomerFactory(
            merchant_id=merchant_keys.merchant_id, locked_until=timezone.now() + timedelta(minutes=5)
        ),
    }

    content = admin_client.get(CHANGELIST, query).content.decode()

    shown = {name for name, customer in customers.items() if customer.id in content}
    assert expected in shown
    if expected == "erased":
        assert shown == {"erased"}


def test_change_form_hides_the_hash_and_keeps_security_fields_read_only(admin_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, password="a long enough passphrase")
    Customer.objects.filter(pk=customer.pk).update(failed_login_count=3)
    url = f"{CHANGELIST}{customer.pk}/change/"

    page = admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        {
            "email": customer.email,
            "name": "Edited",
            "phone": "",
            "metadata": "{}",
            "failed_login_count": "0",
            "locked_until": "2000-01-01 00:00",
            "password": "overwritten",
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert "argon2" not in page
    row = Customer.objects.get(pk=customer.pk)
    assert row.name == "Edited"
    assert row.failed_login_count == 3
    assert row.locked_until is None
    assert row.password.startswith("argon2")


def test_change_form_invalidates_the_cached_customer(
    admin_client, merchant_keys, secret_client, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, name="Before")
    secret_client.get(f"/v1/customers/{customer.id}")

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        admin_client.post(
            f"{CHANGELIST}{customer.pk}/change/",
            {
                "email": customer.email,
                "name": "After",
                "phone": "",
                "metadata": "{}",
                "sessions-TOTAL_FORMS": "0",
                "sessions-INITIAL_FORMS": "0",
            },
        )

    assert secret_client.get(f"/v1/customers/{customer.id}").json()["name"] == "After"


def test_change_form_rejects_a_duplicate_email(admin_client, merchant_keys):
    CustomerFactory(merchant_id=merchant_keys.merchant_id, email="taken@example.com")
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, email="mine@example.com")

    response = admin_client.post(
        f"{CHANGELIST}{customer.pk}/change/",
        {
            "email": "TAKEN@example.com",
            "name": "",
            "phone": "",
            "metadata": "{}",
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "already exists" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).email == "mine@example.com"


def test_erase_action_uses_the_erasure_service(
    admin_client, merchant_keys, secret_client, password, django_capture_on_commit_callbacks
):
    client = customer_client(merchant_keys=merchant_keys, email="ada@example.com", password=password)
    secret_client.get(f"/v1/customers/{client.customer_id}")

    with django_capture_on_commit_callbacks(execute=True):  # the cache token rotates on commit
        response = admin_client.post(
            CHANGELIST, {"action": "erase_personal_data", "_selected_action": [client.customer_id]}
        )

    assert response.status_code == 302
    row = Customer.objects.get(pk=client.customer_id)
    assert (row.email, row.name, row.password) == (None, "", "")
    assert row.erased_at is not None
    assert not CustomerSession.objects.filter(customer_id=client.customer_id).exists()
    assert client.get("/v1/me").status_code == 401
    assert secret_client.get(f"/v1/customers/{client.customer_id}").json()["deleted"] is True
    assert LogEntry.objects.filter(object_id=client.customer_id, change_message="Erased personal data.").exists()


def test_unlock_action(admin_client, merchant_keys):
    customer = CustomerFactory(
        merchant_id=merchant_keys.merchant_id, locked_until=timezone.now() + timedelta(minutes=9)
    )

    admin_client.post(CHANGELIST, {"action": "unlock_login", "_selected_action": [customer.pk]})

    assert Customer.objects.get(pk=customer.pk).locked_until is None


def test_customers_cannot_be_added_or_deleted_in_admin(admin_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id)

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{customer.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_change_form_validates_metadata_like_the_api(admin_client, merchant_keys):
    customer = CustomerFactory(merchant_id=merchant_keys.merchant_id, metadata={"ok": "yes"})

    response = admin_client.post(
        f"{CHANGELIST}{customer.pk}/change/",
        {
            "email": customer.email,
            "name": "",
            "phone": "",
            "metadata": '{"count": 3}',
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "metadata" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).metadata == {"ok": "yes"}
