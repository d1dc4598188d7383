"""A model's hot-path statements (INSERT, UPDATE by primary key, SELECT of one row, optionally
locked), their SQL built once per shape from the model's metadata (issue 14).

Why: the ORM compiles every statement anew (a queryset, its lookups and expressions resolved,
copied and compiled, one ``prepare_value`` per column and row): on this machine 1-4 ms of CPU per
statement of a 37-column row, most of a create+confirm's CPU. Here the SQL text of a shape (table,
columns, row count, condition, lock) is built once and cached; only the parameters are computed per
call, by the fields' own conversions: ``pre_save`` and ``get_db_prep_save`` on the way in (what the
ORM's INSERT and UPDATE call), the backend's and the field's converters and ``Model.from_db`` on the
way out (what a queryset calls). So a row written or read here is the row the ORM would write or
read; ``tests/gateway/test_statements.py`` compares the two, row by row, on PostgreSQL.

Not done here, deliberately: model signals (``pre_save``/``post_save``; no model served here has a
receiver, which the tests check), expressions as values (``F()``; a value is a parameter), joins.
Statements go through Django's cursor, so execute wrappers (query budgets, the bench's counters)
see them. Portable to SQLite (embedded mode): no ``= ANY``, the lock only where the backend has it.
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, TypeVar

from django.db import DatabaseError, NotSupportedError, connections, models, router, transaction
from django.db.models import Field, Model
from django.db.transaction import TransactionManagementError

from .ids import PublicIdField

M = TypeVar("M", bound=Model)

# Locks a SELECT may take (the Saleor-style lock modules choose; ``of`` is always the row's table).
LOCK_FOR_UPDATE = "update"
LOCK_FOR_NO_KEY_UPDATE = "no_key_update"


def _connection(model: type[Model], *, write: bool):
    alias = router.db_for_write(model) if write else router.db_for_read(model)
    return connections[alias]


def _field(model: type[Model], name: str) -> Field:
    # A name, an attname ("merchant" or "merchant_id") or "pk".
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


@lru_cache(maxsize=256)
def _insert_fields(model: type[Model]) -> tuple[Field, ...]:
    # An auto-incremented primary key is the database's to assign (as the ORM's INSERT leaves it out).
    auto = model._meta.auto_field
    return tuple(f for f in model._meta.local_concrete_fields if not f.generated and f is not auto)


@lru_cache(maxsize=256)
def _insert_sql(
    alias: str,
    model: type[Model],
    rows: int,
    column_sql: tuple[tuple[str, str], ...],
    conflict: tuple[str, ...] | None,
    returning: tuple[str, ...],
) -> str:
    meta, quote = model._meta, connections[alias].ops.quote_name
    replaced = dict(column_sql)
    fields = _insert_fields(model)
    row = "(" + ", ".join(replaced.get(f.attname, "%s") for f in fields) + ")"
    # Identifiers come from the model's metadata, SQL fragments from the calling service; every
    # value is a parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)}"
    )
    if conflict is not None:
        sql += f" ON CONFLICT ({', '.join(quote(_field(model, c).column) for c in conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(_field(model, r).column) for r in returning)}"
    return sql


# Field classes (exact) whose save conversion of a value of these exact types (or None) is known:
# the value itself, or for an integer field the backend's adapt_integerfield_value alone (psycopg's
# Int2/4/8 on PostgreSQL, which keeps one prepared statement per text). Django's
# get_prep_value/to_python are the identity for them; skipping those calls saves half a dozen per
# column. Any other value, type or field class (a subclass too) is converted as before.
# tests/gateway/test_statements.py compares every entry with Django's own conversion.
_PASSTHROUGH: dict[type[Field], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    PublicIdField: (str,),  # a CharField with a default; no conversion of its own
    models.BooleanField: (bool,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
}
_CONVERT: tuple[tuple[type, ...], str | None] = ((), None)


def _passthrough(field: Field) -> tuple[tuple[type, ...], str | None]:
    """(the exact value types converted the short way, the integer field's internal type or None);
    ``_CONVERT`` for a field converted by its own methods. A foreign key converts as its target
    field; ``pre_save`` must be ``Field``'s (the attribute)."""
    target = field.target_field if type(field) is models.ForeignKey else field
    types = _PASSTHROUGH.get(type(target), ())
    if not types or type(field).pre_save is not Field.pre_save or type(target).pre_save is not Field.pre_save:
        return _CONVERT
    return types, target.get_internal_type() if isinstance(target, models.IntegerField) else None


@lru_cache(maxsize=256)
def _insert_plan(model: type[Model]) -> tuple[tuple[Field, str, tuple], ...]:
    return tuple((f, f.attname, _passthrough(f)) for f in _insert_fields(model))


@lru_cache(maxsize=256)
def _update_plan(model: type[Model], names: tuple[str, ...]) -> tuple[tuple[Field, tuple], ...]:
    return tuple((field, _passthrough(field)) for field in map(partial(_field, model), names))


def _save_value(field: Field, plain: tuple[tuple[type, ...], str | None], value: Any, connection) -> Any:
    """``field.get_db_prep_save(value, connection)``, the short way for a value ``plain`` admits."""
    types, integer = plain
    if types and (value is None or type(value) in types):
        return value if integer is None else connection.ops.adapt_integerfield_value(value, integer)
    return field.get_db_prep_save(value, connection)


def _returning(model: type[Model], returning: Sequence[str]) -> tuple[str, ...]:
    """The columns to return: an auto-incremented primary key first (set on the objects)."""
    auto = model._meta.auto_field
    return (auto.attname, *returning) if auto is not None else tuple(returning)


def rows_insert(
    objs: Sequence[Model],
    *,
    returning: Sequence[str] = (),
    on_conflict_do_nothing: Sequence[str] | None = None,
    column_sql: Mapping[str, tuple[str, Sequence[Any]]] | None = None,
) -> list[tuple]:
    """INSERT ``objs`` (one model, at least one) in one statement; the ``returning`` columns' rows.

    Each field's value is ``pre_save(obj, add=True)`` (defaults, ``auto_now_add``) converted by
    ``get_db_prep_save``; the objects are marked saved. ``column_sql`` replaces a column's
    placeholder in every row by an SQL fragment with its own parameters (the outbox's EXISTS).
    ``on_conflict_do_nothing`` names the unique columns of ``ON CONFLICT ... DO NOTHING`` (one
    row: not inserted, nothing is returned). Returned values go through the converters a queryset
    applies (as the ORM's INSERT ... RETURNING). An auto-incremented primary key is assigned by the
    database and set on the objects (and returned first in each row).
    """
    model = type(objs[0])
    if model._meta.proxy or model._meta.parents:
        raise TypeError(f"rows_insert: {model.__name__} is a proxy or inherits a table (the ORM saves its parents)")
    auto = model._meta.auto_field
    if on_conflict_do_nothing is not None and len(objs) != 1:
        raise ValueError("rows_insert: ON CONFLICT DO NOTHING for one row only (which rows came back is unknown)")
    connection = _connection(model, write=True)
    replaced = column_sql or {}
    fragments = tuple(sorted((name, sql) for name, (sql, _) in replaced.items()))
    sql = _insert_sql(
        connection.alias,
        model,
        len(objs),
        fragments,
        tuple(on_conflict_do_nothing) if on_conflict_do_nothing is not None else None,
        returned_columns := _returning(model, returning),
    )
    params: list[Any] = []
    for obj in objs:
        if type(obj) is not model:
            raise TypeError(f"rows_insert: {type(obj).__name__} among {model.__name__} rows")
        if auto is not None and obj.pk is not None:
            raise ValueError(f"rows_insert: {model.__name__}'s primary key is the database's to assign")
        for field, attname, plain in _insert_plan(model):
            value = getattr(obj, attname) if plain[0] else field.pre_save(obj, True)  # plain: Field.pre_save
            if attname in replaced:
                params.extend(replaced[attname][1])
            else:
                params.append(_save_value(field, plain, value, connection))
    # As save() and update(): an error marks the caller's atomic block for rollback.
    with transaction.mark_for_rollback_on_error(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if returned_columns else []
        inserted = cursor.rowcount
    if on_conflict_do_nothing is not None and inserted < 1:
        return []  # not inserted: the object stays unsaved
    if rows:
        rows = [_converted(row, model, returned_columns, connection) for row in rows]
    for index, obj in enumerate(objs):
        if auto is not None:
            setattr(obj, auto.attname, rows[index][0])
        obj._state.adding = False
        obj._state.db = connection.alias
    return rows


def _condition_sql(quote, model: type[Model], condition: tuple[tuple[str, int | None], ...]) -> str:
    """``col = %s`` per equality, ``col IS NULL`` for None, ``col IN (%s, ...)`` for a list of n."""
    parts = []
    for name, shape in condition:
        column = quote(_field(model, name).column)
        if shape is None:
            parts.append(f"{column} IS NULL")
        elif shape == 0:
            parts.append(f"{column} = %s")
        else:
            parts.append(f"{column} IN ({', '.join(['%s'] * shape)})")
    return " AND ".join(parts)


def _condition_shape(condition: Mapping[str, Any]) -> tuple[tuple[str, int | None], ...]:
    shape = []
    for name, value in condition.items():
        if value is None:
            shape.append((name, None))
        elif isinstance(value, list | tuple | set | frozenset):
            if not value:
                raise ValueError(f"statements: an empty list for {name} matches nothing")
            shape.append((name, len(value)))
        else:
            shape.append((name, 0))
    return tuple(shape)


def _condition_params(model: type[Model], condition: Mapping[str, Any], connection) -> list[Any]:
    params: list[Any] = []
    for name, value in condition.items():
        if value is None:
            continue
        field = _field(model, name)
        values = value if isinstance(value, list | tuple | set | frozenset) else (value,)
        params.extend(field.get_db_prep_value(v, connection, prepared=False) for v in values)
    return params


@lru_cache(maxsize=256)
def _update_sql(alias: str, model: type[Model], columns: tuple[str, ...], condition) -> str:
    meta, quote = model._meta, connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(_field(model, c).column)} = %s" for c in columns)
    where = _condition_sql(quote, model, ((meta.pk.attname, 0), *condition))
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608


def row_update(
    model: type[Model], *, pk: Any, values: Mapping[str, Any], condition: Mapping[str, Any] | None = None
) -> int:
    """``UPDATE ... SET values WHERE pk = pk AND condition``: how many rows changed (0 or 1).

    As ``QuerySet.filter(pk=pk, **condition).update(**values)``: values converted by
    ``get_db_prep_save``, no ``pre_save`` (an ``auto_now`` column changes only when given). A
    condition value is an equality, a list or tuple (IN) or None (IS NULL). Values are plain
    (a foreign key by its id, a related object refused), as every value is a parameter.
    """
    connection = _connection(model, write=True)
    condition = condition or {}
    for name, value in (*values.items(), *condition.items()):
        if isinstance(value, Model) or hasattr(value, "resolve_expression"):
            raise TypeError(f"row_update: {name} must be a plain value, not {type(value).__name__}")
    sql = _update_sql(connection.alias, model, tuple(values), _condition_shape(condition))
    params = [
        _save_value(field, plain, value, connection)
        for (field, plain), value in zip(_update_plan(model, tuple(values)), values.values(), strict=True)
    ]
    params.append(model._meta.pk.get_db_prep_value(pk, connection, prepared=False))
    params.extend(_condition_params(model, condition, connection))
    with transaction.mark_for_rollback_on_error(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def instance_update(obj: Model, *, fields: Iterable[str]) -> None:
    """As ``obj.save(update_fields=fields)``: each field's ``pre_save(obj, add=False)`` (so an
    ``auto_now`` column named here is stamped, on the object too), one UPDATE by primary key;
    ``DatabaseError`` if the row is gone (Django's "did not affect any rows")."""
    model = type(obj)
    names = sorted({_field(model, name).attname for name in fields})
    values = {name: _field(model, name).pre_save(obj, False) for name in names}
    if not row_update(model, pk=obj.pk, values=values):
        raise DatabaseError("Save with update_fields did not affect any rows.")


@lru_cache(maxsize=256)
def _select_sql(alias: str, model: type[Model], condition, lock: str | None) -> str:
    meta, quote = model._meta, connections[alias].ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(f"{table}.{quote(f.column)}" for f in meta.concrete_fields)
    sql = f"SELECT {columns} FROM {table} WHERE {_condition_sql(quote, model, condition)} LIMIT 1"  # noqa: S608
    if lock is not None:
        sql += (" FOR NO KEY UPDATE" if lock == LOCK_FOR_NO_KEY_UPDATE else " FOR UPDATE") + f" OF {table}"
    return sql


def _column_converters(model: type[Model], columns: tuple[str, ...], connection) -> tuple[tuple[int, Any, tuple], ...]:
    """Per column that has any, (index, column expression, converters): the backend's and the
    field's, as a queryset applies them. Kept on the connection (a backend's converters may be its
    own bound methods), per model and column list."""
    cache = connection.__dict__.setdefault("_gateway_statement_converters", {})
    key = (model, columns)
    if key not in cache:
        found = []
        for index, name in enumerate(columns):
            col = _field(model, name).get_col(model._meta.db_table)
            converters = tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))
            if converters:
                found.append((index, col, converters))
        cache[key] = tuple(found)
    return cache[key]


def _converted(row: tuple, model: type[Model], columns: tuple[str, ...], connection) -> tuple:
    """``row`` (values of ``columns``, as the database sent them) through the columns' converters."""
    converters = _column_converters(model, columns, connection)
    if not converters:
        return row
    values = list(row)
    for index, col, found in converters:
        for converter in found:
            values[index] = converter(values[index], col, connection)
    return tuple(values)


@lru_cache(maxsize=256)
def _concrete_attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def row_select(model: type[M], *, where: Mapping[str, Any], lock: str | None = None) -> M | None:
    """The one row of ``model`` matching ``where`` (equalities, lists, None), every concrete column,
    as a model instance (``Model.from_db``), or None. ``lock`` (``LOCK_FOR_UPDATE`` or
    ``LOCK_FOR_NO_KEY_UPDATE``) locks the row, of this table only, where the backend can (not
    SQLite, which has no row locks: as ``select_for_update`` there)."""
    connection = _connection(model, write=lock is not None)
    if lock is not None:
        if lock not in (LOCK_FOR_UPDATE, LOCK_FOR_NO_KEY_UPDATE):
            raise ValueError(f"statements: unknown lock {lock!r}")
        features = connection.features
        if not features.has_select_for_update:
            lock = None  # SQLite: no row locks (as select_for_update there)
        elif not features.has_select_for_update_of or (
            lock == LOCK_FOR_NO_KEY_UPDATE and not features.has_select_for_no_key_update
        ):
            # As the ORM: a stronger lock than asked for could deadlock (the lock modules' contract).
            raise NotSupportedError(f"row_select: {connection.vendor} cannot lock {lock} OF a table")
        if lock is not None and not connection.in_atomic_block:
            # As select_for_update: a lock outside a transaction would end with its statement.
            raise TransactionManagementError("row_select with a lock must run inside a transaction")
    sql = _select_sql(connection.alias, model, _condition_shape(where), lock)
    with connection.cursor() as cursor:
        cursor.execute(sql, _condition_params(model, where, connection))
        row = cursor.fetchone()
    if row is None:
        return None
    columns = _concrete_attnames(model)
    return model.from_db(connection.alias, list(columns), list(_converted(row, model, columns, connection)))
