import json

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_is_served_and_documents_errors_and_auth(api_client):
    response = api_client.get("/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/v1/account"]["get"]
    assert {"401", "403", "429", "500"} <= set(operation["responses"])
    assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    schemes = schema["components"]["securitySchemes"]
    assert {schemes[name]["scheme"] for name in ("secretKey", "publishableKey", "customerToken")} == {"bearer"}


@pytest.mark.django_db
def test_human_docs_page(api_client):
    response = api_client.get("/docs")
    assert response.status_code == 200
    assert b"redoc" in response.content.lower()


@pytest.mark.slow
def test_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(tmp_path / "schema.json"),
    )
    schema = json.loads((tmp_path / "schema.json").read_text())
    post_ops = [op for path in schema["paths"].values() for method, op in path.items() if method == "post"]
    for op in post_ops:
        assert any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])), op["operationId"]
