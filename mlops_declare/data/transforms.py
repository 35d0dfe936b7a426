"""Apply `data.transforms` in order, each as one DuckDB statement over the previous stage.

Each stage is materialised, so a failure names the transform (`data.transforms[i]`) that caused it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from mlops_declare.config.data import (
    CastTransform,
    ClipTransform,
    DeduplicateTransform,
    DeriveTransform,
    DropTransform,
    ImputeTransform,
    SqlTransform,
    Transform,
)
from mlops_declare.data._common import (
    DUCKDB_TYPES,
    ROW_ID,
    duckdb_column_error,
    first_line,
    is_numeric,
    literal,
    missing_column_error,
    quote,
    type_family,
    visible,
)
from mlops_declare.errors import DataError


def apply_transforms(
    connection: duckdb.DuckDBPyConnection, transforms: Sequence[Transform], table: str, source: str
) -> str:
    """Run every transform; returns the name of the table holding the result."""
    for index, transform in enumerate(transforms):
        where = f"data.transforms[{index}] ({transform.kind})"
        select = _select_for(connection, transform, table, where, source)
        output = f"stage_{index + 1}"
        _materialise(connection, select, output, where, source, table)
        _restore_row_id(connection, output)
        table = output
    return table


def column_types(connection: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type name of a table or view."""
    relation = connection.table(table)
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _materialise(
    connection: duckdb.DuckDBPyConnection, select: str, output: str, where: str, source: str, table: str
) -> None:
    try:
        connection.execute(f"CREATE OR REPLACE TABLE {output} AS {select}")
    except duckdb.Error as exc:
        column = duckdb_column_error(exc)
        if column is not None:
            raise missing_column_error(column, where, source, column_types(connection, table)) from exc
        raise DataError(f"{where}: {first_line(exc)}; {source}") from exc
    if not visible(column_types(connection, output)):
        raise DataError(f"{where}: the transform left no columns; {source}")


def _restore_row_id(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    """A SQL transform that selected named columns drops the row id; number its rows in output order."""
    if ROW_ID in column_types(connection, table):
        return
    connection.execute(
        f"CREATE OR REPLACE TABLE {table}_numbered AS "
        f"SELECT *, (row_number() OVER () - 1)::BIGINT AS {ROW_ID} FROM {table}"
    )
    connection.execute(f"DROP TABLE {table}")
    connection.execute(f"ALTER TABLE {table}_numbered RENAME TO {table}")


def _select_for(
    connection: duckdb.DuckDBPyConnection, transform: Transform, table: str, where: str, source: str
) -> str:
    builder = TRANSFORM_BUILDERS.get(transform.kind)
    if builder is None:
        raise DataError(
            f"{where}: no handler for transform kind {transform.kind!r}; known: {', '.join(TRANSFORM_BUILDERS)}"
        )
    return builder(connection, transform, table, column_types(connection, table), where, source)


def _sql(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, SqlTransform)
    connection.execute(f"CREATE OR REPLACE TEMP VIEW input AS SELECT * FROM {table}")
    return transform.query


def _require(columns: Sequence[str], types: dict[str, str], where: str, source: str) -> None:
    for column in columns:
        if column not in types or column == ROW_ID:
            raise missing_column_error(column, where, source, types)


def _cast(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, CastTransform)
    _require(list(transform.columns), types, where, source)
    for column, target in transform.columns.items():
        _check_castable(connection, table, column, DUCKDB_TYPES[target], f"{where} {column!r}", source)
    replacements = ", ".join(
        f"CAST({quote(column)} AS {DUCKDB_TYPES[target]}) AS {quote(column)}"
        for column, target in transform.columns.items()
    )
    return f"SELECT * REPLACE ({replacements}) FROM {table}"


def _check_castable(
    connection: duckdb.DuckDBPyConnection, table: str, column: str, duckdb_type: str, where: str, source: str
) -> None:
    """Fail naming the column and a few values when some non-missing values cannot become `duckdb_type`."""
    name = quote(column)
    bad = f"{name} IS NOT NULL AND TRY_CAST({name} AS {duckdb_type}) IS NULL"
    count, examples = connection.execute(
        f"SELECT count(*), list(DISTINCT CAST({name} AS VARCHAR) ORDER BY CAST({name} AS VARCHAR))[:3] FROM {table} WHERE {bad}"
    ).fetchall()[0] or (0, [])
    if count:
        shown = ", ".join(repr(value) for value in examples or [])
        raise DataError(
            f"{where}: column {column!r}: {count} value(s) cannot be read as {duckdb_type} (e.g. {shown}); {source}"
        )


def _impute(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, ImputeTransform)
    _require(transform.columns, types, where, source)
    replacements = []
    for column in transform.columns:
        fill = _fill_value(connection, transform, table, column, types[column], where, source)
        replacements.append(f"COALESCE({quote(column)}, {fill}) AS {quote(column)}")
    return f"SELECT * REPLACE ({', '.join(replacements)}) FROM {table}"


def _fill_value(
    connection: duckdb.DuckDBPyConnection,
    transform: ImputeTransform,
    table: str,
    column: str,
    duckdb_type: str,
    where: str,
    source: str,
) -> str:
    family = type_family(duckdb_type)
    if transform.strategy == "constant":
        value = transform.value
        if isinstance(value, str):
            return (
                f"CAST({literal(value)} AS {duckdb_type})"
                if family == "string"
                else _numeric_constant(value, column, where, source)
            )
        return f"CAST({value!r} AS {duckdb_type})"
    if transform.strategy in ("mean", "median") and not is_numeric(family):
        raise DataError(
            f"{where}: column {column!r} is {family}; strategy {transform.strategy!r} needs a number "
            f"(use 'mode' or 'constant'); {source}"
        )
    aggregate = {"mean": "avg", "median": "median", "mode": "mode"}[transform.strategy]
    row = connection.execute(f"SELECT {aggregate}({quote(column)}) FROM {table}").fetchall()[0]
    if row is None or row[0] is None:
        raise DataError(f"{where}: column {column!r} has no values to compute a {transform.strategy} from; {source}")
    if family == "string":
        return literal(str(row[0]))
    if family == "bool":
        return "true" if row[0] else "false"
    value = float(row[0])
    if family == "int" and value.is_integer():
        return f"CAST({int(value)} AS {duckdb_type})"
    # A fractional mean or median of an integer column turns the column into DOUBLE.
    return f"CAST({value!r} AS DOUBLE)"


def _numeric_constant(value: str, column: str, where: str, source: str) -> str:
    raise DataError(f"{where}: column {column!r} is numeric but the fill value {value!r} is text; {source}")


def _clip(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, ClipTransform)
    _require([transform.column], types, where, source)
    family = type_family(types[transform.column])
    if family not in ("int", "float"):
        raise DataError(f"{where}: column {transform.column!r} is {family}; clip needs a number; {source}")
    expression = quote(transform.column)
    if transform.lower is not None:
        expression = f"GREATEST({expression}, {transform.lower!r})"
    if transform.upper is not None:
        expression = f"LEAST({expression}, {transform.upper!r})"
    return (
        f"SELECT * REPLACE (CAST({expression} AS {types[transform.column]}) AS {quote(transform.column)}) FROM {table}"
    )


def _derive(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, DeriveTransform)
    if transform.name == ROW_ID:
        raise DataError(f"{where}: {ROW_ID!r} is reserved")
    expression = f"({transform.expression}) AS {quote(transform.name)}"
    if transform.name in types:
        return f"SELECT * REPLACE ({expression}) FROM {table}"
    return f"SELECT *, {expression} FROM {table}"


def _drop(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, DropTransform)
    _require(transform.columns, types, where, source)
    return f"SELECT * EXCLUDE ({', '.join(quote(column) for column in transform.columns)}) FROM {table}"


def _deduplicate(
    connection: duckdb.DuckDBPyConnection,
    transform: Transform,
    table: str,
    types: dict[str, str],
    where: str,
    source: str,
) -> str:
    assert isinstance(transform, DeduplicateTransform)
    _require(transform.columns, types, where, source)
    keys = transform.columns or visible(types)
    partition = ", ".join(quote(column) for column in keys)
    return (
        f"SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {ROW_ID}) = 1 "
        f"ORDER BY {ROW_ID}"
    )


TransformBuilder = Callable[[duckdb.DuckDBPyConnection, Transform, str, dict[str, str], str, str], str]
TRANSFORM_BUILDERS: dict[str, TransformBuilder] = {
    "sql": _sql,
    "cast": _cast,
    "impute": _impute,
    "clip": _clip,
    "derive": _derive,
    "drop": _drop,
    "deduplicate": _deduplicate,
}
"""`data.transforms[i].kind` -> the SELECT builder; a kind without an entry fails loudly."""
