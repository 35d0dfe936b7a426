"""Small helpers every data module shares: SQL quoting, column type families, error wording."""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb

from mlops_declare.config.messages import suggest
from mlops_declare.errors import DataError

ROW_ID = "__mlops_row"
"""Hidden column that carries each row's position through DuckDB, so outputs keep the source's order."""

_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}

DUCKDB_TYPES = {
    "float": "DOUBLE",
    "int": "BIGINT",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
"""The config's column types (ColumnType) as DuckDB types."""


def quote(name: str) -> str:
    """A column or table name as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A string as a DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def type_family(duckdb_type: str) -> str:
    """The config's vocabulary for a DuckDB type: float, int, string, bool, timestamp, array or other."""
    name = duckdb_type.upper()
    if name in _INTEGER_TYPES:
        return "int"
    if name in _FLOAT_TYPES or name.startswith("DECIMAL"):
        return "float"
    if name == "VARCHAR" or name.startswith("VARCHAR") or name == "UUID":
        return "string"
    if name == "BOOLEAN":
        return "bool"
    if name.startswith("TIMESTAMP") or name == "DATE":
        return "timestamp"
    if name.endswith("]"):
        return "array"
    return "other"


def is_numeric(family: str) -> bool:
    return family in ("int", "float", "bool")


def visible(columns: Iterable[str]) -> list[str]:
    """Column names a user sees (the hidden row id left out)."""
    return [column for column in columns if column != ROW_ID]


def missing_column_error(column: str, where: str, source: str, available: Iterable[str]) -> DataError:
    names = visible(available)
    return DataError(
        f"{where}: column {column!r} not found{suggest(column, names)}; "
        f"{source} has columns: {', '.join(names) or '(none)'}"
    )


def first_line(error: BaseException) -> str:
    """The first line of a DuckDB error, without its 'Binder Error:'-style prefix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^[A-Za-z ]+ Error: ", "", text)


def duckdb_column_error(error: duckdb.Error) -> str | None:
    """The column a DuckDB binder error complains about, if it names one."""
    match = re.search(r'Referenced column "([^"]+)" not found', str(error))
    return match.group(1) if match else None
