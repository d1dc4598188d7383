"""The data is ready to be distributed by ``merchant_id`` (Citus; docs/scaling.md).

Walks every model of the project and the database's own catalog. A tenant-owned table must have a
``merchant_id`` column, and every unique constraint or unique index on it must include
``merchant_id`` (a distributed table can only enforce uniqueness within one shard). The primary key
``id`` is the one allowed exception: ids are random 128-bit values made by the application, and the
distribution migration turns each primary key into ``(merchant_id, id)`` (docs/scaling.md).

Every table that is not tenant-owned must be named below, with the reason.
"""

import pytest
from django.apps import apps
from django.db import connection

PROJECT_APPS = {
    "gateway",
    "merchants",
    "customers",
    "orders",
    "payments",
    "events",
    "processors",
    "sandbox",
    "ledger",
    "audit",
    "disputes",
    "reconciliation",
    "checkout",
}

# Replicated to every node (Citus reference tables): small, rarely written, read by id or hash on
# requests that do not yet know the merchant (authentication, processor webhooks).
REFERENCE_TABLES = {
    "merchants_merchant": "the tenants themselves",
    "merchants_apikey": "authentication finds the merchant from the key's hash",
    "processors_processoraccount": "processor webhooks arrive at /v1/webhooks/processors/{account}",
    "audit_auditentry": "the operators' trail spans merchants (an action may touch several); append-only, small",
}
# Not the gateway's data: the built-in sandbox plays an outside processor with its own book. It is
# test mode only and stays a local table on the coordinator.
OUTSIDE_TABLES = {
    "sandbox_sandboxcharge",
    "sandbox_sandboxrefund",
    "sandbox_sandboxfaultplan",
    "sandbox_sandboxdispute",
}


def project_models():
    return [model for model in apps.get_models() if model._meta.app_label in PROJECT_APPS]


def tenant_models():
    return [
        model
        for model in project_models()
        if model._meta.db_table not in REFERENCE_TABLES and model._meta.db_table not in OUTSIDE_TABLES
    ]


def unique_column_sets(table: str) -> dict[str, set[str]]:
    """Every unique index in the database on `table` except the primary key: name -> columns."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, array_agg(a.attname) FILTER (WHERE a.attname IS NOT NULL), ix.indexprs IS NOT NULL
            FROM pg_index ix
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_class i ON i.oid = ix.indexrelid
            LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey)
            WHERE t.relname = %s AND ix.indisunique AND NOT ix.indisprimary
            GROUP BY i.relname, ix.indexprs
            """,
            [table],
        )
        return {name: set(columns or []) for name, columns, _ in cursor.fetchall()}


def tenant_table_problems(model) -> list[str]:
    table = model._meta.db_table
    problems = []
    if "merchant_id" not in {field.column for field in model._meta.concrete_fields}:
        problems.append(f"{table} has no merchant_id: it cannot be distributed by merchant")
    if model._meta.pk.column != "id":
        problems.append(f"{table}: primary key {model._meta.pk.column}, expected id")
    for name, columns in unique_column_sets(table).items():
        if "merchant_id" not in columns:
            problems.append(f"{table}: unique index {name} on {sorted(columns)} lacks merchant_id")
    return problems


@pytest.mark.django_db
@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.db_table)
def test_tenant_table_carries_merchant_id_in_every_unique_index(model):
    assert tenant_table_problems(model) == []


@pytest.mark.django_db
def test_every_project_table_is_classified():
    tables = {model._meta.db_table for model in project_models()}
    assert set(REFERENCE_TABLES) | OUTSIDE_TABLES <= tables  # no stale names
    assert tables - set(REFERENCE_TABLES) - OUTSIDE_TABLES == {m._meta.db_table for m in tenant_models()}


@pytest.mark.django_db
def test_the_check_reports_a_unique_index_without_merchant_id():
    from orders.models import Order

    # Given a tenant table with a global unique index added behind Django's back
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNIQUE INDEX sharding_probe ON orders_order (id, currency)")
    # Then the check reports it
    assert tenant_table_problems(Order) == [
        "orders_order: unique index sharding_probe on ['currency', 'id'] lacks merchant_id"
    ]


@pytest.mark.django_db
def test_the_check_reports_a_table_without_merchant_id():
    from merchants.models import Merchant

    assert tenant_table_problems(Merchant) == [
        "merchants_merchant has no merchant_id: it cannot be distributed by merchant"
    ]
