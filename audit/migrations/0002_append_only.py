"""The audit trail is append-only in the database, like the ledger (ledger/migrations/0002): UPDATE
and DELETE on ``audit_auditentry`` raise, whatever the code path (ORM, raw SQL, admin, a shell).
TRUNCATE fires no row trigger (test flushes); production should not grant TRUNCATE to the
application role. Retention is a database-owner job (a partition dropped, never a row edited)."""

from django.db import migrations

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on % rejected', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    "CREATE TRIGGER audit_auditentry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry "
    "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()",
]
PG_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_auditentry_append_only ON audit_auditentry",
    "DROP FUNCTION IF EXISTS audit_reject_change()",
]
SQLITE_FORWARD = [
    f"CREATE TRIGGER IF NOT EXISTS audit_auditentry_no_{op.lower()} BEFORE {op} ON audit_auditentry "
    f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {op} rejected'); END"
    for op in ("UPDATE", "DELETE")
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS audit_auditentry_no_{op.lower()}" for op in ("UPDATE", "DELETE")]
STATEMENTS = {"postgresql": (PG_FORWARD, PG_REVERSE), "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE)}


def _run(schema_editor, *, forward: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"audit triggers are not written for the {vendor!r} database")
    for statement in STATEMENTS[vendor][0 if forward else 1]:
        schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _run(schema_editor, forward=True)


def backwards(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
