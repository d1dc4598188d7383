import pytest
from django.contrib.auth import get_user_model

from merchants.models import ApiKey

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def admin_client_logged_in(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-admin-password-1")
    client.force_login(user)
    return client


def test_merchant_admin_never_shows_the_key_hash(admin_client_logged_in, merchant_keys):
    key = ApiKey.objects.get(merchant_id=merchant_keys.merchant_id, kind="secret")
    page = admin_client_logged_in.get(f"/admin/merchants/merchant/{merchant_keys.merchant_id}/change/")
    assert page.status_code == 200
    assert key.prefix.encode() in page.content
    assert key.key_hash.encode() not in page.content
    key_page = admin_client_logged_in.get(f"/admin/merchants/apikey/{key.id}/change/")
    assert key_page.status_code == 200
    assert key.key_hash.encode() not in key_page.content


def test_admin_creates_a_key_shown_once_and_revokes_it(admin_client_logged_in, merchant_keys, api_client):
    before = set(ApiKey.objects.values_list("id", flat=True))
    response = admin_client_logged_in.post(
        "/admin/merchants/merchant/",
        {"action": "create_secret_key", "_selected_action": [merchant_keys.merchant_id]},
        follow=True,
    )
    message = next(str(m) for m in response.context["messages"] if "sk_test_" in str(m))
    assert "no-store" in response["Cache-Control"]  # the page showing the new key is never stored
    raw_key = message.split("sk_test_")[1].split(" ")[0]
    raw_key = "sk_test_" + raw_key
    new_key = ApiKey.objects.exclude(id__in=before).get()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api_client.get("/v1/account").status_code == 200

    admin_client_logged_in.post(
        "/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [new_key.id]}, follow=True
    )
    new_key.refresh_from_db()
    assert new_key.revoked_at is not None
    assert api_client.get("/v1/account").status_code == 401
