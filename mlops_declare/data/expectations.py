"""Evaluate `data.expectations` against the transformed table and apply each one's policy.

Quarantine expectations run first: their bad rows move to a quarantine table with a reason column
and the good rows continue; `fail` and `warn` expectations then judge the rows that remain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from mlops_declare.config.data import (
    AllowedValues,
    ColumnPresent,
    Expectation,
    Freshness,
    MaxNullFraction,
    RowCount,
    Unique,
    ValueRange,
)
from mlops_declare.data._common import ROW_ID, first_line, literal, quote, type_family, visible
from mlops_declare.errors import DataError

QUARANTINE_REASON = "_quarantine_reason"
"""Column of the quarantine file that says which expectations a row broke."""

ROW_LEVEL = (MaxNullFraction, ValueRange, AllowedValues, Unique)
RowLevel = MaxNullFraction | ValueRange | AllowedValues | Unique
"""Expectations judged row by row, whose bad rows can be quarantined."""


@dataclass
class ExpectationResult:
    """One expectation's verdict, as the validation report lists it."""

    index: int
    kind: str
    column: str | None
    policy: str
    config_path: str
    expected: str
    observed: Any
    outcome: str
    """passed, failed (policy fail), warned (policy warn) or quarantined (bad rows moved aside)."""
    bad_rows: int | None = None
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Validation:
    """The outcome of every expectation, and the rows that were moved to quarantine."""

    table: str
    results: list[ExpectationResult]
    quarantine: pa.Table | None
    rows_checked: int

    @property
    def failed(self) -> list[ExpectationResult]:
        return [result for result in self.results if result.outcome == "failed"]


def validate(
    connection: duckdb.DuckDBPyConnection,
    expectations: Sequence[Expectation],
    table: str,
    logical_date: str | None,
) -> Validation:
    """Quarantine first, then judge the remaining rows; returns the name of the table that continues."""
    rows_checked = _count(connection, table)
    indexed = list(enumerate(expectations))
    quarantining = [(i, e) for i, e in indexed if e.policy == "quarantine"]
    results: dict[int, ExpectationResult] = {}
    quarantine = None
    if quarantining:
        table, quarantine, quarantine_results = _apply_quarantine(connection, quarantining, table)
        results.update(quarantine_results)
    for index, expectation in indexed:
        if expectation.policy != "quarantine":
            results[index] = _judge(connection, index, expectation, table, logical_date)
    return Validation(table, [results[index] for index, _ in indexed], quarantine, rows_checked)


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(row[0]) if row else 0


def _types(connection: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    relation = connection.table(table)
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _expected_text(expectation: Expectation) -> str:
    if isinstance(expectation, ColumnPresent):
        return f"column present{f' with type {expectation.type}' if expectation.type else ''}"
    if isinstance(expectation, MaxNullFraction):
        return f"null fraction <= {expectation.max:g}"
    if isinstance(expectation, ValueRange):
        low = "-inf" if expectation.min is None else f"{expectation.min:g}"
        high = "inf" if expectation.max is None else f"{expectation.max:g}"
        return f"values in [{low}, {high}]"
    if isinstance(expectation, AllowedValues):
        return f"values in {{{', '.join(str(value) for value in expectation.values)}}}"
    if isinstance(expectation, Unique):
        return "no repeated values"
    if isinstance(expectation, RowCount):
        return f"rows in [{expectation.min}, {'inf' if expectation.max is None else expectation.max}]"
    return f"newest value at most {expectation.max_age_hours:g} h before the logical date"


def _bad_row_predicate(expectation: Expectation, duckdb_type: str, where: str) -> str:
    """SQL that is true for a row that breaks a row-level expectation."""
    assert isinstance(expectation, ROW_LEVEL)
    name = quote(expectation.column)
    family = type_family(duckdb_type)
    if isinstance(expectation, MaxNullFraction):
        return f"({name} IS NULL OR {_is_nan(name, family)})"
    if isinstance(expectation, ValueRange):
        if family == "string":
            number = f"TRY_CAST({name} AS DOUBLE)"
            return f"({name} IS NOT NULL AND ({number} IS NULL OR {_outside(number, expectation)}))"
        if family not in ("int", "float"):
            raise DataError(f"{where}: column {expectation.column!r} is {family}; a range check needs numbers")
        return f"({name} IS NOT NULL AND {_outside(name, expectation)})"
    if isinstance(expectation, AllowedValues):
        return f"({name} IS NOT NULL AND NOT {_membership(name, family, expectation.values)})"
    return f"({name} IS NOT NULL AND row_number() OVER (PARTITION BY {name} ORDER BY {ROW_ID}) > 1)"


def _is_nan(name: str, family: str) -> str:
    return f"isnan({name})" if family == "float" else "false"


def _outside(number: str, expectation: ValueRange) -> str:
    checks = []
    if expectation.min is not None:
        checks.append(f"{number} < {expectation.min!r}")
    if expectation.max is not None:
        checks.append(f"{number} > {expectation.max!r}")
    # NaN is larger than every number in DuckDB, but it is not a value in range either way.
    checks.append(f"isnan(CAST({number} AS DOUBLE))")
    return "(" + " OR ".join(checks) + ")"


def _membership(name: str, family: str, values: Sequence[str | int | bool]) -> str:
    if family in ("int", "float"):
        numbers = [repr(float(value)) for value in values if isinstance(value, int) and not isinstance(value, bool)]
        numbers += [repr(float(value)) for value in values if isinstance(value, str) and _is_number(value)]
        return f"CAST({name} AS DOUBLE) IN ({', '.join(numbers)})" if numbers else "false"
    if family == "bool":
        flags = [str(value).lower() for value in values if isinstance(value, bool)]
        flags += [value.lower() for value in values if isinstance(value, str) and value.lower() in ("true", "false")]
        return f"{name} IN ({', '.join(flags)})" if flags else "false"
    texts = [str(value).lower() if isinstance(value, bool) else str(value) for value in values]
    return f"CAST({name} AS VARCHAR) IN ({', '.join(literal(text) for text in texts)})"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _reason(index: int, expectation: Expectation) -> str:
    """SQL text for the quarantine reason of a row, naming the expectation, its column and the value."""
    assert isinstance(expectation, ROW_LEVEL)
    name = quote(expectation.column)
    prefix = literal(f"data.expectations[{index}] {expectation.kind} {expectation.column}=")
    value = f"COALESCE(CAST({name} AS VARCHAR), 'null')"
    return f"{prefix} || {value} || {literal(' (expected ' + _expected_text(expectation) + ')')}"


def _apply_quarantine(
    connection: duckdb.DuckDBPyConnection,
    quarantining: list[tuple[int, Expectation]],
    table: str,
) -> tuple[str, pa.Table | None, dict[int, ExpectationResult]]:
    types = _types(connection, table)
    total = _count(connection, table)
    results: dict[int, ExpectationResult] = {}
    active: list[tuple[int, RowLevel, str]] = []
    for index, expectation in quarantining:
        # The config allows policy quarantine on row-level expectations only.
        assert isinstance(expectation, ROW_LEVEL)
        where = f"data.expectations[{index}] ({expectation.kind})"
        if expectation.column not in types:
            results[index] = _missing_column_result(index, expectation, types, "failed")
            continue
        predicate = _bad_row_predicate(expectation, types[expectation.column], where)
        active.append((index, expectation, predicate))
    if not active:
        return table, None, results
    flags = ", ".join(f"{predicate} AS flag_{index}" for index, _, predicate in active)
    connection.execute(f"CREATE OR REPLACE TABLE quarantine_flags AS SELECT {ROW_ID}, {flags} FROM {table}")
    counts = (
        connection.execute(
            "SELECT " + ", ".join(f"count_if(flag_{index})" for index, _, _ in active) + " FROM quarantine_flags"
        ).fetchall()[0]
        or ()
    )
    moved: list[tuple[int, RowLevel]] = []
    for (index, expectation, _), bad in zip(active, counts, strict=True):
        fraction = bad / total if total else 0.0
        exceeded = fraction > expectation.max if isinstance(expectation, MaxNullFraction) else bad > 0
        observed: Any = round(fraction, 6) if isinstance(expectation, MaxNullFraction) else int(bad)
        result = _result(index, expectation, observed, "quarantined" if exceeded else "passed", int(bad))
        if exceeded:
            result.examples = _examples(connection, table, expectation, f"flag_{index}")
            moved.append((index, expectation))
        results[index] = result
    if not moved:
        return table, None, results
    reasons = ", ".join(f"CASE WHEN q.flag_{index} THEN {_reason(index, e)} END" for index, e in moved)
    connection.execute(
        f"CREATE OR REPLACE TABLE quarantine_reasons AS SELECT t.*, concat_ws('; ', {reasons}) AS {QUARANTINE_REASON} "
        f"FROM {table} t JOIN quarantine_flags q USING ({ROW_ID})"
    )
    kept = f"{table}_kept"
    connection.execute(
        f"CREATE OR REPLACE TABLE {kept} AS SELECT * EXCLUDE ({QUARANTINE_REASON}) FROM quarantine_reasons "
        f"WHERE {QUARANTINE_REASON} = '' ORDER BY {ROW_ID}"
    )
    quarantine = connection.sql(
        f"SELECT * EXCLUDE ({ROW_ID}) FROM quarantine_reasons WHERE {QUARANTINE_REASON} <> '' ORDER BY {ROW_ID}"
    ).to_arrow_table()
    return kept, quarantine, results


def _examples(connection: duckdb.DuckDBPyConnection, table: str, expectation: RowLevel, flag: str) -> list[str]:
    column = quote(expectation.column)
    rows = connection.execute(
        f"SELECT DISTINCT COALESCE(CAST(t.{column} AS VARCHAR), 'null') AS v FROM {table} t "
        f"JOIN quarantine_flags q USING ({ROW_ID}) WHERE q.{flag} ORDER BY v LIMIT 3"
    ).fetchall()
    return [row[0] for row in rows]


def _result(
    index: int, expectation: Expectation, observed: Any, outcome: str, bad_rows: int | None = None
) -> ExpectationResult:
    return ExpectationResult(
        index=index,
        kind=expectation.kind,
        column=getattr(expectation, "column", None),
        policy=expectation.policy,
        config_path=f"data.expectations[{index}]",
        expected=_expected_text(expectation),
        observed=observed,
        outcome=outcome,
        bad_rows=bad_rows,
    )


def _verdict(expectation: Expectation, passed: bool) -> str:
    if passed:
        return "passed"
    return "warned" if expectation.policy == "warn" else "failed"


def _missing_column_result(
    index: int, expectation: Expectation, types: dict[str, str], outcome: str
) -> ExpectationResult:
    result = _result(index, expectation, "column missing", outcome)
    result.examples = [f"columns: {', '.join(visible(types))}"]
    return result


def _judge(
    connection: duckdb.DuckDBPyConnection,
    index: int,
    expectation: Expectation,
    table: str,
    logical_date: str | None,
) -> ExpectationResult:
    types = _types(connection, table)
    if isinstance(expectation, RowCount):
        rows = _count(connection, table)
        upper_ok = expectation.max is None or rows <= expectation.max
        return _result(index, expectation, rows, _verdict(expectation, expectation.min <= rows and upper_ok))
    column = expectation.column
    if column not in types:
        return _missing_column_result(index, expectation, types, _verdict(expectation, False))
    if isinstance(expectation, ColumnPresent):
        return _judge_type(index, expectation, type_family(types[column]))
    if isinstance(expectation, Freshness):
        return _judge_freshness(connection, index, expectation, table, logical_date)
    where = f"data.expectations[{index}] ({expectation.kind})"
    predicate = _bad_row_predicate(expectation, types[column], where)
    row = connection.execute(
        f"SELECT count(*), count_if(bad) FROM (SELECT {predicate} AS bad FROM {table})"
    ).fetchall()[0] or (0, 0)
    total, bad = int(row[0]), int(row[1])
    if isinstance(expectation, MaxNullFraction):
        fraction = bad / total if total else 0.0
        result = _result(
            index, expectation, round(fraction, 6), _verdict(expectation, fraction <= expectation.max), bad
        )
    else:
        observed = _observed(connection, expectation, table, types[column], bad)
        result = _result(index, expectation, observed, _verdict(expectation, bad == 0), bad)
    if result.outcome != "passed" and not isinstance(expectation, MaxNullFraction):
        result.examples = _offending_values(connection, table, column, predicate)
    return result


def _observed(
    connection: duckdb.DuckDBPyConnection, expectation: RowLevel, table: str, duckdb_type: str, bad: int
) -> Any:
    """What the report shows as observed: the value range, the distinct values, or the duplicate count."""
    name = quote(expectation.column)
    family = type_family(duckdb_type)
    if isinstance(expectation, ValueRange) and family in ("int", "float"):
        low, high = connection.execute(f"SELECT min({name}), max({name}) FROM {table}").fetchall()[0]
        return {"min": None if low is None else float(low), "max": None if high is None else float(high)}
    if isinstance(expectation, AllowedValues):
        rows = connection.execute(
            f"SELECT DISTINCT CAST({name} AS VARCHAR) AS v FROM {table} WHERE {name} IS NOT NULL ORDER BY v LIMIT 21"
        ).fetchall()
        values = [row[0] for row in rows]
        return {"distinct": values[:20], "more": len(values) > 20}
    if isinstance(expectation, Unique):
        return {"duplicates": bad}
    return {"bad_rows": bad}


def _offending_values(connection: duckdb.DuckDBPyConnection, table: str, column: str, predicate: str) -> list[str]:
    rows = connection.execute(
        f"SELECT DISTINCT v FROM (SELECT CAST({quote(column)} AS VARCHAR) AS v, {predicate} AS bad FROM {table}) "
        "WHERE bad ORDER BY v LIMIT 3"
    ).fetchall()
    return [row[0] for row in rows]


def _judge_type(index: int, expectation: ColumnPresent, family: str) -> ExpectationResult:
    if expectation.type is None:
        return _result(index, expectation, family, "passed")
    # Integers are valid floats; CSV type sniffing reads a float column of whole numbers as BIGINT.
    passed = family == expectation.type or (expectation.type == "float" and family == "int")
    return _result(index, expectation, family, _verdict(expectation, passed))


def _judge_freshness(
    connection: duckdb.DuckDBPyConnection, index: int, expectation: Freshness, table: str, logical_date: str | None
) -> ExpectationResult:
    name = quote(expectation.column)
    family = type_family(_types(connection, table)[expectation.column])
    # A TIMESTAMPTZ keeps its instant only without a cast (casting to TIMESTAMP uses the session's zone).
    newest_value = f"max({name})" if family == "timestamp" else f"max(TRY_CAST({name} AS TIMESTAMP))"
    try:
        row = connection.execute(f"SELECT epoch({newest_value}) FROM {table}").fetchall()[0]
    except duckdb.Error as exc:
        raise DataError(
            f"data.expectations[{index}] (freshness): column {expectation.column!r} is not a timestamp: {first_line(exc)}"
        ) from exc
    newest = row[0] if row else None
    if newest is None:
        return _result(index, expectation, "no timestamps", _verdict(expectation, False))
    reference = _reference_time(logical_date)
    age_hours = (reference - float(newest)) / 3600.0
    observed = {
        "newest": dt.datetime.fromtimestamp(float(newest), dt.UTC).isoformat(),
        "age_hours": round(age_hours, 3),
    }
    return _result(index, expectation, observed, _verdict(expectation, age_hours <= expectation.max_age_hours))


def _reference_time(logical_date: str | None) -> float:
    """The logical date's midnight (UTC) as epoch seconds, or now when the run has no logical date."""
    if logical_date is None:
        return dt.datetime.now(dt.UTC).timestamp()
    return dt.datetime.fromisoformat(logical_date).replace(tzinfo=dt.UTC).timestamp()
