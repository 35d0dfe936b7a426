"""Read the `data.source` into an Arrow table: CSV/Parquet through DuckDB, SQL through SQLAlchemy,
scikit-learn's bundled datasets, and seeded synthetic tables."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from mlops_declare.config.data import (
    BuiltinSource,
    CsvSource,
    GeneratedColumn,
    GeneratedSource,
    ParquetSource,
    Source,
    SqlSource,
    builtin_features,
)
from mlops_declare.data._common import first_line, literal
from mlops_declare.errors import DataError

LOGICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SOURCE_PATH = "data.source"


@dataclass(frozen=True)
class LoadedSource:
    """Raw rows plus a description of where they came from (passwords hidden)."""

    table: pa.Table
    description: str
    location: str


def load_source(
    source: Source,
    logical_date: str | None,
    project_root: Path,
    connection: duckdb.DuckDBPyConnection,
) -> LoadedSource:
    """The source's rows as Arrow; every failure is a DataError naming the source and its config path."""
    loader = SOURCE_LOADERS.get(source.kind)
    if loader is None:
        raise DataError(
            f"{SOURCE_PATH}.kind: no loader for source kind {source.kind!r}; known: {', '.join(SOURCE_LOADERS)}"
        )
    return loader(source, logical_date, project_root, connection)


def render_template(text: str, logical_date: str | None, where: str) -> str:
    """`text` with `{ds}` replaced by the logical date (YYYY-MM-DD)."""
    if "{ds}" not in text:
        return text
    if logical_date is None:
        raise DataError(f"{where}: {text!r} uses {{ds}} but no logical date was given (pass --logical-date YYYY-MM-DD)")
    if not LOGICAL_DATE.match(logical_date):
        raise DataError(f"{where}: logical date {logical_date!r} is not YYYY-MM-DD")
    return text.replace("{ds}", logical_date)


def _resolve_location(path: str, logical_date: str | None, project_root: Path, label: str) -> str:
    """A local path made absolute and checked to match at least one file; URLs pass through."""
    where = f"{SOURCE_PATH}.path"
    rendered = render_template(path, logical_date, where)
    if "://" in rendered and not rendered.startswith("file://"):
        return rendered
    rendered = rendered.removeprefix("file://")
    candidate = Path(rendered)
    absolute = candidate if candidate.is_absolute() else project_root / candidate
    if not glob.glob(str(absolute)):
        raise DataError(f"{where}: {label} {rendered!r}: no file matches {str(absolute)!r}")
    return str(absolute)


def _register_filesystem(connection: duckdb.DuckDBPyConnection, location: str) -> None:
    """Let DuckDB read fsspec URLs (s3://, gs://, memory://, ...) through fsspec."""
    if "://" not in location:
        return
    import fsspec

    protocol = location.split("://", 1)[0]
    try:
        filesystem = fsspec.filesystem(protocol)
    except (ImportError, ValueError) as exc:
        raise DataError(f"{SOURCE_PATH}.path: cannot open {location!r}: {exc}") from exc
    name = filesystem.protocol if isinstance(filesystem.protocol, str) else filesystem.protocol[0]
    if not connection.filesystem_is_registered(name):
        connection.register_filesystem(filesystem)


def _read_file(connection: duckdb.DuckDBPyConnection, query: str, label: str) -> pa.Table:
    try:
        table = connection.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"{SOURCE_PATH}: cannot read {label}: {_duckdb_message(exc)}") from exc
    if table.num_columns == 0:
        raise DataError(f"{SOURCE_PATH}: {label} has no columns")
    return table


def _duckdb_message(exc: duckdb.Error) -> str:
    """DuckDB's explanation without its long list of possible fixes."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    kept = []
    for line in lines:
        if line.startswith("Possible fixes") or line.startswith("The search space"):
            break
        kept.append(line.strip())
    return " ".join(kept[:4]) or first_line(exc)


def _load_csv(
    source: CsvSource, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    location = _resolve_location(source.path, logical_date, project_root, "csv file")
    _register_filesystem(connection, location)
    label = f"csv source {location!r}"
    null_values = ", ".join(literal(value) for value in source.null_values)
    options = f"delim={literal(source.delimiter)}, header={str(source.header).lower()}, nullstr=[{null_values}]"
    if _is_glob(location):
        options += ", union_by_name=true"
    # DuckDB sniffs types from a sample and reads in parallel. A bad value after the sample fails the
    # conversion; only then is the whole file sniffed (sample_size=-1), so that column becomes VARCHAR
    # (which expectations then catch) instead of failing half way through the read. Sniffing the
    # whole file up front would cost a second pass over every file that has no such value.
    try:
        table = connection.sql(f"SELECT * FROM read_csv({literal(location)}, {options})").to_arrow_table()
    except duckdb.ConversionException:
        table = None
    except duckdb.Error as exc:
        raise DataError(f"{SOURCE_PATH}: cannot read {label}: {_duckdb_message(exc)}") from exc
    if table is None:
        query = f"SELECT * FROM read_csv({literal(location)}, {options}, sample_size=-1)"
        table = _read_file(connection, query, label)
    elif table.num_columns == 0:
        raise DataError(f"{SOURCE_PATH}: {label} has no columns")
    return LoadedSource(table, label, location)


def _is_glob(location: str) -> bool:
    return any(character in location for character in "*?[")


def _load_parquet(
    source: ParquetSource, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    location = _resolve_location(source.path, logical_date, project_root, "parquet file")
    _register_filesystem(connection, location)
    label = f"parquet source {location!r}"
    union = ", union_by_name=true" if _is_glob(location) else ""
    query = f"SELECT * FROM read_parquet({literal(location)}{union})"
    return LoadedSource(_read_file(connection, query, label), label, location)


def _load_sql(source: SqlSource, logical_date: str | None) -> LoadedSource:
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(source.url)
    except sqlalchemy.exc.ArgumentError as exc:
        raise DataError(f"{SOURCE_PATH}.url: not a SQLAlchemy URL: {exc}") from exc
    shown = url.render_as_string(hide_password=True)
    label = f"sql source {shown!r}"
    query = render_template(source.query, logical_date, f"{SOURCE_PATH}.query")
    try:
        engine = sqlalchemy.create_engine(url)
    except (sqlalchemy.exc.ArgumentError, ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
        raise DataError(f"{SOURCE_PATH}.url: {label}: {exc}") from exc
    try:
        with engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(query))
            names = list(result.keys())
            batches = [_rows_to_table(names, rows) for rows in iter(lambda: result.fetchmany(50_000), [])]
    except sqlalchemy.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise DataError(f"{SOURCE_PATH}.query: {label}: {detail}") from exc
    finally:
        engine.dispose()
    if not batches:
        return LoadedSource(pa.table({name: pa.array([], pa.null()) for name in names}), label, shown)
    return LoadedSource(pa.concat_tables(batches, promote_options="permissive"), label, shown)


def _rows_to_table(names: list[str], rows: Sequence[Sequence[object]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for name, values in zip(names, columns, strict=True):
        try:
            arrays.append(pa.array([_plain(value) for value in values]))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"{SOURCE_PATH}.query: column {name!r} mixes types the pipeline cannot read: {exc}"
            ) from exc
    return pa.table(arrays, names=names)


def _plain(value: object) -> object:
    """Database values Arrow does not take as they are (Decimal) as plain Python ones."""
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


def _load_builtin(source: BuiltinSource) -> LoadedSource:
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }[source.dataset]
    bunch = loader()
    features = builtin_features(source.dataset)
    target = np.asarray(bunch.target)
    target_array = pa.array(target.astype(np.float64) if source.dataset == "diabetes" else target.astype(np.int64))
    if source.dataset == "digits":
        pixels = np.asarray(bunch.data, dtype=np.float32)
        image = pa.FixedSizeListArray.from_arrays(pa.array(pixels.reshape(-1)), pixels.shape[1])
        table = pa.table({features[0].name: image, "target": target_array})
    else:
        data = np.asarray(bunch.data, dtype=np.float64)
        columns = {feature.name: pa.array(data[:, index]) for index, feature in enumerate(features)}
        table = pa.table({**columns, "target": target_array})
    return LoadedSource(table, f"builtin source {source.dataset!r}", f"sklearn:{source.dataset}")


def _load_generated(source: GeneratedSource) -> LoadedSource:
    rng = np.random.default_rng(source.seed)
    # numpy's generators release the GIL, so columns are drawn in parallel; each column has its
    # own seeded generator, so the values do not depend on thread timing.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        generated = list(pool.map(lambda column: _generate_column(source, column), source.columns))
    signal = np.zeros(source.rows)
    for _, contribution in generated:  # summed in declaration order: the same floats every time
        signal += contribution
    signal = signal / np.sqrt(max(len(source.columns), 1)) + source.noise * rng.normal(size=source.rows)
    target = (signal > 0).astype(np.int64) if source.label == "linear_binary" else signal
    arrays = {column.name: array for column, (array, _) in zip(source.columns, generated, strict=True)}
    arrays["target"] = pa.array(target)
    return LoadedSource(pa.table(arrays), f"generated source (seed {source.seed})", f"generated:{source.seed}")


def _generate_column(source: GeneratedSource, column: GeneratedColumn) -> tuple[pa.Array, np.ndarray]:
    """One column's values and its contribution to the label signal."""
    # A column's own generator keeps its values stable when other columns are added or removed.
    column_rng = np.random.default_rng([source.seed, _stable_hash(column.name)])
    weight = column_rng.normal()
    if column.type == "numeric":
        values = column_rng.normal(column.mean, column.std, source.rows)
        contribution = (values - column.mean) * (weight / column.std)
        drift = source.drift
        if drift and (not drift.columns or column.name in drift.columns):
            values += drift.shift * column.std
        return _with_nulls(pa.array(values), column, column_rng), contribution
    codes = column_rng.integers(0, len(column.categories), source.rows)
    effects = column_rng.normal(size=len(column.categories)) * weight
    categories = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(column.categories))
    return _with_nulls(categories.cast(pa.string()), column, column_rng), effects[codes]


def _with_nulls(array: pa.Array, column: GeneratedColumn, rng: np.random.Generator) -> pa.Array:
    if column.null_fraction == 0.0:
        return array
    mask = rng.random(len(array)) < column.null_fraction
    import pyarrow.compute as pc

    return pc.if_else(pa.array(mask), pa.nulls(len(array), array.type), array)


def _stable_hash(name: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def _csv(
    source: Source, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    assert isinstance(source, CsvSource)
    return _load_csv(source, logical_date, project_root, connection)


def _parquet(
    source: Source, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    assert isinstance(source, ParquetSource)
    return _load_parquet(source, logical_date, project_root, connection)


def _sql(
    source: Source, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    assert isinstance(source, SqlSource)
    return _load_sql(source, logical_date)


def _builtin(
    source: Source, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    assert isinstance(source, BuiltinSource)
    return _load_builtin(source)


def _generated(
    source: Source, logical_date: str | None, project_root: Path, connection: duckdb.DuckDBPyConnection
) -> LoadedSource:
    assert isinstance(source, GeneratedSource)
    return _load_generated(source)


SourceLoader = Callable[[Source, "str | None", Path, duckdb.DuckDBPyConnection], LoadedSource]
SOURCE_LOADERS: dict[str, SourceLoader] = {
    "csv": _csv,
    "parquet": _parquet,
    "sql": _sql,
    "builtin": _builtin,
    "generated": _generated,
}
"""`data.source.kind` -> loader; a kind without an entry fails loudly instead of falling through."""
