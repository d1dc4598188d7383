import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(
    ("path", "method", "operation_id"),
    [
        ("/v1/customers", "post", "customers_create"),
        ("/v1/customers", "get", "customers_list"),
        ("/v1/customers/{customer_id}", "get", "customers_retrieve"),
        ("/v1/customers/{customer_id}", "patch", "customers_update"),
        ("/v1/customers/{customer_id}", "delete", "customers_delete"),
        ("/v1/auth/login", "post", "auth_login"),
        ("/v1/auth/logout", "post", "auth_logout"),
        ("/v1/me", "get", "me_retrieve"),
        ("/v1/me", "patch", "me_update"),
        ("/v1/me/password", "post", "me_password_change"),
    ],
)
def test_every_endpoint_is_in_the_openapi_schema(schema, path, method, operation_id):
    assert schema["paths"][path][method]["operationId"] == operation_id


def test_customer_schema_never_exposes_secrets(schema):
    properties = schema["components"]["schemas"]["Customer"]["properties"]

    assert not {"password", "failed_login_count", "locked_until", "sessions"} & set(properties)
    assert "customerToken" in schema["components"]["securitySchemes"]
