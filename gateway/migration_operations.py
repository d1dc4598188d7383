"""Migration operations of our own.

``LikeIndexesRemove``: Django's PostgreSQL backend gives every indexed or unique ``varchar`` column
(primary keys and foreign keys included) a second index, ``<name>_like`` with
``varchar_pattern_ops``, so that ``LIKE 'prefix%'`` can use an index outside the C collation. No
query of the gateway filters ids by prefix (the admin's searches are ``icontains``: a leading
``%``, which no B-tree serves), yet PostgreSQL writes every index on each INSERT and on each
UPDATE that is not HOT, so on the tables a create+confirm writes these indexes cost WAL and
CPU for nothing (issue 14; docs/performance.md).

``ForeignKeyIndexesRemove``: the index a foreign key gets of its own, where another index of the
table leads with the column (it serves the lookups and the checks PostgreSQL makes when a
referenced row is deleted). ``tests/test_lean_indexes.py`` keeps both kinds gone, and every
foreign key led by an index.
"""

from django.db.migrations.operations.base import Operation


class _IndexesRemove(Operation):
    """Drops indexes PostgreSQL's schema editor made for ``fields`` of ``model_name``, under the
    names it gave them (``suffixes`` of Django's index name); reversed, makes them again. Nothing
    on other databases.

    ``CONCURRENTLY`` both ways, so the migration must say ``atomic = False``: a plain DROP INDEX
    takes an ACCESS EXCLUSIVE lock, and waiting for it behind a long query would stop every read
    and write of a payments table meanwhile. Each statement is ``IF EXISTS``, so a migration
    stopped half-way runs again."""

    reversible = True
    reduces_to_sql = True
    suffixes: tuple[str, ...] = ()
    what = ""

    def __init__(self, model_name: str, fields: list[str]):
        self.model_name = model_name
        self.fields = list(fields)

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "fields": self.fields}

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        for name in self.fields:
            column = model._meta.get_field(name).column
            for suffix in self.suffixes:
                index = schema_editor._create_index_name(model._meta.db_table, [column], suffix=suffix)
                schema_editor.execute(schema_editor._delete_index_sql(model, index, concurrently=True))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        for name in self.fields:
            field = model._meta.get_field(name)
            if "" in self.suffixes:
                schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], concurrently=True))
            if schema_editor._create_like_index_sql(model, field) is not None:  # the backend's rule for a twin
                kind = "varchar" if field.db_type(schema_editor.connection).startswith("varchar") else "text"
                schema_editor.execute(
                    schema_editor._create_index_sql(
                        model, fields=[field], suffix="_like", opclasses=[f"{kind}_pattern_ops"], concurrently=True
                    )
                )

    def describe(self) -> str:
        return f"Remove the {self.what} of {self.model_name}: {', '.join(self.fields)}"


class LikeIndexesRemove(_IndexesRemove):
    """The ``_like`` twins of ``fields``. Django's state never held them: they are the backend's own."""

    suffixes = ("_like",)
    what = "LIKE indexes"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_like_indexes_{self.model_name.lower()}"


class ForeignKeyIndexesRemove(_IndexesRemove):
    """The index of each foreign key of ``fields`` (and its ``_like`` twin), where another index
    leads with the column; in Django's state, the field becomes ``db_index=False``.

    Not an ``AlterField``: for a foreign key Django drops and adds the constraint back, and adding
    it checks every row under a lock that blocks writes to the table and to the one it references.
    Dropping an index takes a moment. SQLite keeps its index (the embedded mode only)."""

    suffixes = ("", "_like")
    what = "foreign keys' own indexes"

    def state_forwards(self, app_label, state):
        model_name = self.model_name.lower()
        for name in self.fields:
            field = state.models[app_label, model_name].fields[name].clone()
            field.db_index = False
            state.alter_field(app_label, model_name, name, field, True)

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_fk_indexes_{self.model_name.lower()}"
