"""Every project table carries the indexes its queries and foreign keys need, and no other (issue 14).

PostgreSQL writes every index of a table on each INSERT, and on each UPDATE that is not HOT (a
payment's status change is not: status is indexed). Read from the database's own catalog:
- no ``varchar_pattern_ops``/``text_pattern_ops`` index (the ``_like`` twins Django's PostgreSQL
  backend adds; gateway.migration_operations says why none is needed);
- no plain index whose columns lead another index of the same table, or are a unique index's
  (that one serves its lookups and the foreign key's checks), unless it is unique or partial:
  those say more;
- every foreign-key column leads an index, so a lookup by it, and the check PostgreSQL makes
  when the referenced row is deleted, never reads the whole table.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.migration_operations import ForeignKeyIndexesRemove, LikeIndexesRemove

from .test_sharding import project_models


def project_tables() -> list[str]:
    return sorted({model._meta.db_table for model in project_models()})


def table_indexes(table: str) -> list[tuple[str, list[str], bool, bool, str]]:
    """(name, columns in order, unique, partial or on expressions, definition) of every index on ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname,
                   ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.n),
                   ix.indisunique, ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL,
                   pg_get_indexdef(ix.indexrelid)
            FROM pg_index ix
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_class i ON i.oid = ix.indexrelid
            WHERE t.relname = %s AND t.relnamespace = 'public'::regnamespace
            ORDER BY i.relname
            """,
            [table],
        )
        return [(row[0], list(row[1]), row[2], row[3], row[4]) for row in cursor]


def foreign_key_columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.attname FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND cardinality(c.conkey) = 1
            ORDER BY a.attname
            """,
            [table],
        )
        return [row[0] for row in cursor]


def foreign_key_constraints(table: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass ORDER BY oid", [table]
        )
        return [row[0] for row in cursor]


def index_problems(table: str) -> list[str]:
    indexes = table_indexes(table)
    problems = []
    for name, columns, unique, partial, definition in indexes:
        if "_pattern_ops" in definition:
            problems.append(f"{table}: {name} is a LIKE index ({definition.split(' USING ', 1)[1]})")
            continue
        if unique or partial:
            continue
        for other, other_columns, other_unique, other_partial, other_definition in indexes:
            # a longer index, or a unique one on the same columns, serves every lookup this one does
            longer = len(other_columns) > len(columns) or (other_unique and len(other_columns) == len(columns))
            leads = longer and other_columns[: len(columns)] == columns
            if other != name and leads and not other_partial and "_pattern_ops" not in other_definition:
                problems.append(f"{table}: {name} on {columns} is led by {other} on {other_columns}")
                break
    for column in foreign_key_columns(table):
        if not any(cols[0] == column and not partial for _, cols, _, partial, _ in indexes if cols):
            problems.append(f"{table}: no index leads with the foreign key {column}")
    return problems


@pytest.mark.django_db
@pytest.mark.parametrize("table", project_tables())
def test_a_project_table_has_the_indexes_it_needs_and_no_other(table):
    assert index_problems(table) == []


@pytest.mark.django_db
def test_the_check_reports_a_like_index_and_an_index_led_by_another():
    # Given the two kinds of index the migrations removed, added back behind Django's back
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX probe_like ON payments_payment (customer_id varchar_pattern_ops)")
        cursor.execute("CREATE INDEX probe_led ON payments_payment (merchant_id)")
        # and one that is partial: it says more than the index leading it, so it stays
        cursor.execute("CREATE INDEX probe_partial ON payments_payment (merchant_id) WHERE amount > 0")
    # Then the check reports the first two
    assert index_problems("payments_payment") == [
        "payments_payment: probe_led on ['merchant_id'] is led by pay_merchant_customer_id"
        " on ['merchant_id', 'customer_id', 'id']",
        "payments_payment: probe_like is a LIKE index (btree (customer_id varchar_pattern_ops))",
    ]
    # And a plain index on a unique index's columns
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX probe_same ON gateway_idempotencykey (merchant_id, scope, key)")
    assert index_problems("gateway_idempotencykey") == [
        "gateway_idempotencykey: probe_same on ['merchant_id', 'scope', 'key'] is led by idempotency_key_unique"
        " on ['merchant_id', 'scope', 'key']"
    ]


@pytest.mark.django_db
def test_the_check_reports_a_foreign_key_no_index_leads_with():
    # Given the one index leading with a delivery's endpoint dropped
    (name,) = [index[0] for index in table_indexes("events_delivery") if index[1] == ["endpoint_id", "id"]]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{name}"')
    # Then the check reports the foreign key
    assert index_problems("events_delivery") == ["events_delivery: no index leads with the foreign key endpoint_id"]


@pytest.mark.django_db(transaction=True)  # CONCURRENTLY: outside a transaction
def test_the_operation_reverses_and_applies_again():
    # Given the migrated schema (the payment's LIKE indexes removed)
    state = MigrationExecutor(connection).loader.project_state()
    operation = LikeIndexesRemove(model_name="payment", fields=["id", "customer"])
    like_names = {"payments_payment_id_91e48230_like", "payments_payment_customer_id_8b4d6141_like"}
    # When it is reversed, the indexes Django's backend makes are back, under its names
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("payments", editor, state, state)
    assert like_names <= {index[0] for index in table_indexes("payments_payment")}
    # When it is applied again, they are gone
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("payments", editor, state, state)
    assert not like_names & {index[0] for index in table_indexes("payments_payment")}
    assert operation.describe() == "Remove the LIKE indexes of payment: id, customer"


@pytest.mark.django_db(transaction=True)  # CONCURRENTLY: outside a transaction
def test_the_foreign_key_operation_reverses_and_applies_again():
    # Given the migrated schema (the payment's merchant led by pay_merchant_id, without an index of its own)
    before = MigrationExecutor(connection).loader.project_state(("payments", "0005_recovery_and_sync_marker"))
    operation = ForeignKeyIndexesRemove(model_name="payment", fields=["merchant"])
    state = before.clone()
    operation.state_forwards("payments", state)
    # Django's state: the field loses its index, nothing else
    assert before.models["payments", "payment"].fields["merchant"].db_index is True
    assert state.models["payments", "payment"].fields["merchant"].deconstruct()[3] == {
        **before.models["payments", "payment"].fields["merchant"].deconstruct()[3],
        "db_index": False,
    }
    own = {"payments_payment_merchant_id_2ca42133", "payments_payment_merchant_id_2ca42133_like"}
    constraints_before = foreign_key_constraints("payments_payment")
    # When it is reversed, both indexes are back
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("payments", editor, state, before)
    assert own <= {index[0] for index in table_indexes("payments_payment")}
    # When it is applied again, they are gone, and the foreign key constraints were never touched
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("payments", editor, before, state)
    assert not own & {index[0] for index in table_indexes("payments_payment")}
    assert foreign_key_constraints("payments_payment") == constraints_before  # same oids: not added anew
    assert operation.describe() == "Remove the foreign keys' own indexes of payment: merchant"
