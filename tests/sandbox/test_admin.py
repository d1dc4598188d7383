"""The sandbox's book is visible to staff in admin and cannot be edited there."""

import pytest
from django.contrib.auth.models import User

from sandbox.models import SandboxCharge

from .conftest import authorize_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("ops", "ops@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def test_charges_and_refunds_are_listed_read_only(staff_client, sandbox):
    charge = sandbox.authorize(authorize_request(amount=900))
    sandbox.refund(reference="re_1", processor_reference=charge.processor_reference, amount=100, currency="USD")

    listing = staff_client.get("/admin/sandbox/sandboxcharge/")
    detail = staff_client.get(f"/admin/sandbox/sandboxcharge/{charge.processor_reference}/change/")
    refunds = staff_client.get("/admin/sandbox/sandboxrefund/")
    add = staff_client.get("/admin/sandbox/sandboxcharge/add/")
    edit = staff_client.post(
        f"/admin/sandbox/sandboxcharge/{charge.processor_reference}/change/", {"amount": 1, "status": "succeeded"}
    )

    assert listing.status_code == 200 and charge.processor_reference in listing.content.decode()
    assert detail.status_code == 200 and "re_1" in detail.content.decode()
    assert refunds.status_code == 200
    assert add.status_code == 403
    assert edit.status_code == 403
    assert SandboxCharge.objects.get(id=charge.processor_reference).amount == 900


def test_fault_plans_are_editable(staff_client):
    assert staff_client.get("/admin/sandbox/sandboxfaultplan/add/").status_code == 200
