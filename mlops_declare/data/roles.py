"""Decide which column plays which role (feature, target, id, timestamp, weight), inferring what
the config leaves out, and check that the data can play those roles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import duckdb

from mlops_declare.config.data import (
    BUILTIN_TASKS,
    BuiltinSource,
    ColumnSplit,
    DataConfig,
    Feature,
    GeneratedSource,
    TimeSplit,
    declared_features,
)
from mlops_declare.data._common import ROW_ID, is_numeric, missing_column_error, quote, type_family, visible
from mlops_declare.errors import DataError

MOSTLY_NUMERIC = 0.5
"""A text column whose values are mostly numbers is a numeric column with bad or placeholder values:
the run stops and asks, rather than silently treating the numbers as categories."""
MAX_INTEGER_CLASSES = 50
"""An integer target with at most this many distinct values is taken as class labels."""


@dataclass
class ColumnInfo:
    """One column as the inferred schema shows it."""

    name: str
    type: str
    role: str
    """feature, target, id, timestamp, weight, split or ignored."""
    feature_type: str | None = None
    shape: list[int] | None = None
    declared: bool = False
    note: str = ""


@dataclass
class Schema:
    """The roles of every column plus what the pipeline must do to the types before splitting."""

    columns: list[ColumnInfo]
    features: list[Feature]
    target: str | None
    id: str | None
    timestamp: str | None
    weight: str | None
    casts: dict[str, str] = field(default_factory=dict)
    """Column -> DuckDB type it is cast to before the table leaves DuckDB."""

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(column) for column in self.columns]


def infer_schema(
    connection: duckdb.DuckDBPyConnection, data: DataConfig, table: str, types: dict[str, str], source: str
) -> Schema:
    """Declared roles checked against the data, the rest inferred; DataError names column and config path."""
    declared = _declared_roles(data, types, source)
    split_column = _split_column(data, types, source)
    if declared.get("timestamp") is None and isinstance(data.split, TimeSplit):
        declared["timestamp"] = (data.split.column, False)
    roles = _infer_missing_roles(declared, types)
    taken = {column for column, _ in roles.values() if column is not None} | ({split_column} if split_column else set())
    features = declared_features(data)
    columns: dict[str, ColumnInfo] = {}
    for role, (column, is_declared) in roles.items():
        if column is not None:
            columns[column] = ColumnInfo(column, types[column], role, declared=is_declared)
    if split_column:
        columns[split_column] = ColumnInfo(split_column, types[split_column], "split", declared=True)
    casts: dict[str, str] = {}
    if features is not None:
        _check_declared_features(connection, table, features, types, casts, columns, source, data)
    else:
        features = _infer_features(connection, table, types, taken, casts, columns, source)
    if not features:
        raise DataError(
            f"data.columns.features: no feature columns left; {source} has columns: {', '.join(visible(types))}"
        )
    ordered = [columns[name] for name in visible(types) if name in columns]
    ordered += [
        ColumnInfo(name, types[name], "ignored", note="no role") for name in visible(types) if name not in columns
    ]
    return Schema(
        columns=ordered,
        features=features,
        target=roles["target"][0],
        id=roles["id"][0],
        timestamp=roles["timestamp"][0],
        weight=roles["weight"][0],
        casts=casts,
    )


def _split_column(data: DataConfig, types: dict[str, str], source: str) -> str | None:
    """The column that names each row's split (a column split), after checking split columns exist."""
    if isinstance(data.split, (TimeSplit, ColumnSplit)) and data.split.column not in types:
        raise missing_column_error(data.split.column, "data.split.column", source, types)
    return data.split.column if isinstance(data.split, ColumnSplit) else None


def _declared_roles(data: DataConfig, types: dict[str, str], source: str) -> dict[str, tuple[str, bool] | None]:
    declared: dict[str, tuple[str, bool] | None] = {}
    for role in ("target", "id", "timestamp", "weight"):
        column = getattr(data.columns, role)
        if column is None:
            declared[role] = None
            continue
        if column not in types or column == ROW_ID:
            raise missing_column_error(column, f"data.columns.{role}", source, types)
        declared[role] = (column, True)
    weight = declared["weight"]
    if weight is not None and not is_numeric(type_family(types[weight[0]])):
        raise DataError(
            f"data.columns.weight: column {weight[0]!r} is {type_family(types[weight[0]])}, not a number; {source}"
        )
    return declared


def _infer_missing_roles(
    declared: dict[str, tuple[str, bool] | None], types: dict[str, str]
) -> dict[str, tuple[str | None, bool]]:
    taken = {entry[0] for entry in declared.values() if entry is not None}
    roles: dict[str, tuple[str | None, bool]] = {
        role: (entry[0], entry[1]) if entry else (None, False) for role, entry in declared.items()
    }
    names = [name for name in visible(types) if name not in taken]
    if roles["target"][0] is None and "target" in names:
        roles["target"] = ("target", False)
    if roles["id"][0] is None:
        ids = [
            name
            for name in names
            if (name.lower() == "id" or name.lower().endswith("_id")) and type_family(types[name]) in ("int", "string")
        ]
        if ids:
            roles["id"] = (ids[0], False)
    if roles["timestamp"][0] is None:
        stamps = [name for name in names if type_family(types[name]) == "timestamp"]
        if stamps:
            roles["timestamp"] = (stamps[0], False)
    return roles


def _check_declared_features(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    features: list[Feature],
    types: dict[str, str],
    casts: dict[str, str],
    columns: dict[str, ColumnInfo],
    source: str,
    data: DataConfig,
) -> None:
    declared = bool(data.columns.features)
    for index, feature in enumerate(features):
        where = f"data.columns.features[{index}]" if declared else f"data.source ({data.source.kind} features)"
        if feature.name not in types or feature.name == ROW_ID:
            raise missing_column_error(feature.name, where, source, types)
        if feature.name in columns:
            raise DataError(f"{where}: column {feature.name!r} is already the {columns[feature.name].role}")
        family = type_family(types[feature.name])
        if feature.type == "numeric":
            _require_numeric(connection, table, feature.name, family, casts, where, source)
        elif feature.type == "categorical":
            if family != "string":
                casts[feature.name] = "VARCHAR"
        else:
            _require_image(connection, table, feature, types[feature.name], where, source)
        columns[feature.name] = ColumnInfo(
            feature.name,
            types[feature.name],
            "feature",
            feature.type,
            feature.shape,
            declared=declared,
            note="" if declared else f"from the {data.source.kind} source",
        )


def _require_numeric(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    family: str,
    casts: dict[str, str],
    where: str,
    source: str,
) -> None:
    if family in ("int", "float", "bool"):
        return
    if family != "string":
        raise DataError(f"{where}: column {column!r} is {family}; a numeric feature needs numbers; {source}")
    bad, total, examples = _non_numbers(connection, table, column)
    if bad:
        shown = ", ".join(repr(value) for value in examples)
        raise DataError(
            f"{where}: column {column!r} is declared numeric but {bad} of {total} values are not numbers "
            f"(e.g. {shown}); fix the data, or quarantine those rows with a `range` expectation; {source}"
        )
    casts[column] = "DOUBLE"


def _non_numbers(connection: duckdb.DuckDBPyConnection, table: str, column: str) -> tuple[int, int, list[str]]:
    name = quote(column)
    row = connection.execute(
        f"SELECT count_if({name} IS NOT NULL AND TRY_CAST({name} AS DOUBLE) IS NULL), count({name}), "
        f"list(DISTINCT {name} ORDER BY {name}) FILTER (WHERE {name} IS NOT NULL AND TRY_CAST({name} AS DOUBLE) IS NULL)[:3] "
        f"FROM {table}"
    ).fetchall()[0] or (0, 0, [])
    return int(row[0]), int(row[1]), sorted(row[2] or [])


def _non_number_counts(
    connection: duckdb.DuckDBPyConnection, table: str, columns: list[str]
) -> dict[str, tuple[int, int]]:
    """Per text column: (values that are not numbers, values), in one scan of the table."""
    if not columns:
        return {}
    # Each distinct value is parsed once: text columns are mostly categories with few distinct values,
    # and grouping them costs a fraction of parsing every row.
    parts = [
        f"SELECT {index} AS position, sum(rows) FILTER (WHERE TRY_CAST(value AS DOUBLE) IS NULL) AS bad, sum(rows) AS total "
        f"FROM (SELECT {quote(column)} AS value, count(*) AS rows FROM {table} WHERE {quote(column)} IS NOT NULL GROUP BY value)"
        for index, column in enumerate(columns)
    ]
    counts = {
        int(row[0]): (int(row[1] or 0), int(row[2] or 0))
        for row in connection.execute(" UNION ALL ".join(parts)).fetchall()
    }
    return {column: counts.get(index, (0, 0)) for index, column in enumerate(columns)}


def _require_image(
    connection: duckdb.DuckDBPyConnection, table: str, feature: Feature, duckdb_type: str, where: str, source: str
) -> None:
    size = 1
    for dimension in feature.shape or []:
        size *= dimension
    if type_family(duckdb_type) != "array":
        raise DataError(
            f"{where}: column {feature.name!r} is {duckdb_type}; an image feature needs a list of {size} numbers"
        )
    row = connection.execute(f"SELECT count_if(len({quote(feature.name)}) <> {size}) FROM {table}").fetchall()[0] or (
        0,
    )
    if row[0]:
        raise DataError(
            f"{where}: column {feature.name!r}: {row[0]} rows do not hold {size} values (shape {feature.shape}); {source}"
        )


def _infer_features(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    types: dict[str, str],
    taken: set[str],
    casts: dict[str, str],
    columns: dict[str, ColumnInfo],
    source: str,
) -> list[Feature]:
    features = []
    candidates = [name for name in visible(types) if name not in taken and name not in columns]
    # One scan answers "is this text column numbers?" for every text column at once.
    counts = _non_number_counts(
        connection, table, [name for name in candidates if type_family(types[name]) == "string"]
    )
    for name in candidates:
        family = type_family(types[name])
        kind = _inferred_feature_type(connection, table, name, family, source, counts.get(name))
        if kind is None:
            note = (
                "array column; declare it as an image feature with a shape" if family == "array" else f"{family} column"
            )
            columns[name] = ColumnInfo(name, types[name], "ignored", note=note)
            continue
        if kind == "numeric" and family == "string":
            casts[name] = "DOUBLE"
        features.append(Feature(name=name, type=kind))
        columns[name] = ColumnInfo(name, types[name], "feature", kind, note="inferred")
    return features


def _inferred_feature_type(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    name: str,
    family: str,
    source: str,
    counts: tuple[int, int] | None = None,
) -> Literal["numeric", "categorical"] | None:
    if family in ("int", "float", "bool"):
        return "numeric"
    if family != "string":
        return None
    bad, total = counts if counts is not None else _non_numbers(connection, table, name)[:2]
    if total and bad == 0:
        return "numeric"
    if total and (total - bad) / total >= MOSTLY_NUMERIC:
        examples = _non_numbers(connection, table, name)[2]
        shown = ", ".join(repr(value) for value in examples)
        raise DataError(
            f"data.columns.features: column {name!r} looks numeric but {bad} of {total} values are not numbers "
            f"(e.g. {shown}); if they mean 'missing', list them in data.source.null_values (csv); otherwise fix the "
            f"data, quarantine those rows with a `range` expectation, or declare the column categorical in "
            f"data.columns.features; {source}"
        )
    return "categorical"


def task_hint(
    data: DataConfig, connection: duckdb.DuckDBPyConnection, table: str, target: str | None, types: dict[str, str]
) -> str | None:
    """binary, multiclass or regression, as far as the source and the target's values tell."""
    if target is None:
        return None
    if isinstance(data.source, BuiltinSource):
        return BUILTIN_TASKS[data.source.dataset]
    if isinstance(data.source, GeneratedSource):
        return "binary" if data.source.label == "linear_binary" else "regression"
    family = type_family(types[target])
    name = quote(target)
    row = connection.execute(
        f"SELECT count(DISTINCT {name}), "
        f"{'bool_and(' + name + ' = round(' + name + '))' if family == 'float' else 'true'} FROM {table}"
    ).fetchall()[0] or (0, True)
    distinct, integral = int(row[0]), bool(row[1])
    classes = family in ("string", "bool") or (family == "int" and distinct <= MAX_INTEGER_CLASSES)
    classes = classes or (family == "float" and integral and distinct <= 2)
    if not classes:
        return "regression"
    return "binary" if distinct <= 2 else "multiclass"
