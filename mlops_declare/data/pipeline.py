"""`prepare_dataset`: source -> transforms -> expectations -> roles -> splits -> preprocessing,
profile and fingerprint, all written atomically into one directory."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_declare.atomic import staged_directory
from mlops_declare.config.data import SPLIT_NAMES, CsvSource, DataConfig, ParquetSource, SqlSource
from mlops_declare.contracts.layouts import DATASET_FILES, DATASET_FORMAT
from mlops_declare.data._common import ROW_ID, quote
from mlops_declare.data.expectations import Validation, validate
from mlops_declare.data.fingerprint import content_hash, dataset_fingerprint
from mlops_declare.data.preprocessing import class_names_of, fit_preprocessing
from mlops_declare.data.profile import column_statistics, reference_profile
from mlops_declare.data.report import build_report, readable, render_summary
from mlops_declare.data.roles import Schema, infer_schema, task_hint
from mlops_declare.data.sources import LOGICAL_DATE, LoadedSource, load_source
from mlops_declare.data.splits import split_indices
from mlops_declare.data.transforms import apply_transforms, column_types
from mlops_declare.errors import DataError

METADATA_FORMAT = DATASET_FORMAT
FILES = DATASET_FILES


class DataValidationError(DataError):
    """An expectation with policy `fail` did not hold; carries the full validation report."""

    def __init__(self, report: dict[str, Any], summary: str, note: str = "") -> None:
        self.report = report
        self.summary = summary
        failed = [entry for entry in report["expectations"] if entry["outcome"] == "failed"]
        lines = [
            f"data validation failed: {len(failed)} expectation(s) with policy 'fail' did not hold ({report['source']}):"
        ]
        lines += [f"  {_describe_failure(entry)}" for entry in failed]
        lines += [note] if note else []
        super().__init__("\n".join(lines))


def _describe_failure(entry: dict[str, Any]) -> str:
    column = f" column {entry['column']!r}" if entry["column"] else ""
    examples = f" (e.g. {', '.join(repr(value) for value in entry['examples'])})" if entry["examples"] else ""
    noun = "missing value(s)" if entry["kind"] == "max_null_fraction" else "bad row(s)"
    bad = f"; {entry['bad_rows']} {noun}" if entry["bad_rows"] else ""
    return (
        f"{entry['config_path']} {entry['kind']}{column}: expected {entry['expected']}, "
        f"observed {readable(entry['observed'])}{bad}{examples}"
    )


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared dataset on disk: split Parquet files plus the artefacts training and serving share."""

    directory: Path
    fingerprint: str
    splits: dict[str, Path]
    preprocessing_path: Path
    profile_path: Path
    report_path: Path
    metadata_path: Path
    feature_names: list[str]
    target: str | None

    @classmethod
    def load(cls, directory: str | Path) -> PreparedDataset:
        """Reopen a dataset written by `prepare_dataset`."""
        folder = Path(directory)
        metadata_path = folder / FILES["metadata"]
        try:
            metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{str(folder)!r} holds no prepared dataset (cannot read {FILES['metadata']}: {exc})"
            ) from exc
        if metadata.get("format") != METADATA_FORMAT:
            raise DataError(
                f"{str(metadata_path)!r} has format {metadata.get('format')!r}, expected {METADATA_FORMAT!r}"
            )
        return cls._from_metadata(folder, metadata)

    @classmethod
    def _from_metadata(cls, folder: Path, metadata: dict[str, Any]) -> PreparedDataset:
        return cls(
            directory=folder,
            fingerprint=metadata["fingerprint"],
            splits={name: folder / f"{name}.parquet" for name in SPLIT_NAMES},
            preprocessing_path=folder / FILES["preprocessing"],
            profile_path=folder / FILES["profile"],
            report_path=folder / FILES["report"],
            metadata_path=folder / FILES["metadata"],
            feature_names=[feature["name"] for feature in metadata["features"]],
            target=metadata["target"],
        )

    def metadata(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.metadata_path.read_text(encoding="utf-8"))
        return result

    def report(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.report_path.read_text(encoding="utf-8"))
        return result

    def read_split(self, name: str) -> pa.Table:
        return pq.read_table(self.splits[name])

    def verify(self) -> None:
        """Fail when the split files no longer hold the content the fingerprint was computed from."""
        expected = self.metadata()["content_hash"]
        actual = content_hash({name: self.read_split(name) for name in SPLIT_NAMES})
        if actual != expected:
            raise DataError(
                f"dataset {str(self.directory)!r} was changed after it was written: content hash {actual[:12]} "
                f"!= recorded {expected[:12]}"
            )


@dataclass
class _Described:
    """The small files' text (file name -> text) and the metadata they include."""

    documents: dict[str, str]
    metadata: dict[str, Any]


@dataclass
class _Validated:
    """The validated rows and what the pipeline learned about them, before the split."""

    loaded: LoadedSource
    validation: Validation
    schema: Schema
    hint: str | None
    table: pa.Table
    report: dict[str, Any]


def prepare_dataset(
    data: DataConfig,
    output_dir: Path,
    logical_date: str | None = None,
    project_root: Path | None = None,
) -> PreparedDataset:
    """Read, transform, validate and split `data`; write everything atomically into `output_dir`.

    Raises DataValidationError (nothing written) when an expectation with policy `fail` does not
    hold, and DataError naming source, column and config path for unreadable or unusable input.
    """
    if logical_date is not None and not LOGICAL_DATE.match(logical_date):
        raise DataError(f"logical date {logical_date!r} is not YYYY-MM-DD")
    validated = _prepare_in_memory(data, logical_date, (project_root or Path.cwd()).resolve())
    _check_usable(validated.table, validated.schema, validated.loaded.description)
    schema = validated.schema
    class_names = class_names_of(validated.table.column(schema.target), validated.hint) if schema.target else None
    splits = _split(validated.table, data, schema.target, validated.loaded.description)
    tables = {f"{name}.parquet": split for name, split in splits.items()}
    if validated.validation.quarantine is not None:
        tables[FILES["quarantine"]] = validated.validation.quarantine
    output_dir = Path(output_dir)
    described = _write_atomically(
        output_dir, tables, lambda: _describe(data, logical_date, validated, class_names, splits)
    )
    return PreparedDataset._from_metadata(output_dir, described.metadata)


def _prepare_in_memory(data: DataConfig, logical_date: str | None, project_root: Path) -> _Validated:
    if isinstance(data.source, (CsvSource, ParquetSource)):
        _start_numpy_bridge_import()
    with duckdb.connect() as connection:
        loaded = load_source(data.source, logical_date, project_root, connection)
        _check_source_table(loaded)
        numbered = loaded.table.append_column(ROW_ID, pa.array(np.arange(loaded.table.num_rows, dtype=np.int64)))
        connection.register("stage_0", numbered)
        _lock_down(connection)
        final = apply_transforms(connection, data.transforms, "stage_0", loaded.description)
        rows_transformed = _count(connection, final)
        if rows_transformed == 0:
            where = "data.transforms" if data.transforms else "data.source"
            raise DataError(
                f"{where}: no rows ({loaded.description} gave {loaded.table.num_rows} rows, transforms left none)"
            )
        try:
            validation = validate(connection, data.expectations, final, logical_date)
        except DataError as exc:
            raise DataError(f"{exc}; {loaded.description}") from exc
        rows = {"source": loaded.table.num_rows, "transformed": rows_transformed, "checked": validation.rows_checked}
        rows["quarantined"] = validation.quarantine.num_rows if validation.quarantine is not None else 0
        report = build_report(data, loaded.description, logical_date, validation, rows)
        if validation.failed:
            raise DataValidationError(report, render_summary(report))
        if rows["checked"] == rows["quarantined"]:
            raise DataError(
                f"data.expectations: every one of the {rows['checked']} rows was quarantined; {loaded.description}"
            )
        types = column_types(connection, validation.table)
        schema = infer_schema(connection, data, validation.table, types, loaded.description)
        hint = task_hint(data, connection, validation.table, schema.target, types)
        table = _fetch(connection, validation.table, schema, numbered if validation.table == "stage_0" else None)
    return _Validated(loaded, validation, schema, hint, table, report)


def _start_numpy_bridge_import() -> None:
    """Start pyarrow's lazy import of pandas (its first numpy conversion does it: 0.1-0.2 s of Python
    that every run pays) in a thread, so it happens while DuckDB reads the file without the GIL.

    Only for file sources: their reading imports nothing else, so the two imports cannot wait on each other.
    """
    if "pandas" in sys.modules:
        return
    threading.Thread(target=_convert_one_value, name="mlops-declare-import").start()


def _convert_one_value() -> None:
    try:
        pa.array(np.zeros(1))
    except Exception:  # noqa: BLE001 - the main thread's own first conversion reports any failure
        return


def _lock_down(connection: duckdb.DuckDBPyConnection) -> None:
    """Transforms and expectations see only the loaded table: no files, extensions or network, for good."""
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def _check_source_table(loaded: LoadedSource) -> None:
    if ROW_ID in loaded.table.column_names:
        raise DataError(f"data.source: column {ROW_ID!r} is reserved; {loaded.description}")
    if loaded.table.num_rows == 0:
        raise DataError(f"data.source: {loaded.description} returned no rows")


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(row[0]) if row else 0


def _fetch(connection: duckdb.DuckDBPyConnection, table: str, schema: Schema, original: pa.Table | None) -> pa.Table:
    """The validated rows as Arrow in source order, with the casts the roles need."""
    if original is not None and not schema.casts:
        # Nothing changed the source rows: skip a round trip through DuckDB.
        return original.drop_columns([ROW_ID])
    replace = ", ".join(f"CAST({quote(column)} AS {kind}) AS {quote(column)}" for column, kind in schema.casts.items())
    select = f"* EXCLUDE ({ROW_ID})" + (f" REPLACE ({replace})" if replace else "")
    try:
        return connection.sql(f"SELECT {select} FROM {table} ORDER BY {ROW_ID}").to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"data.columns: cannot convert columns {sorted(schema.casts)}: {exc}") from exc


def _check_usable(table: pa.Table, schema: Schema, source: str) -> None:
    """A target or feature with no values cannot be learned from; a missing label cannot be trained on."""
    for feature in schema.features:
        column = table.column(feature.name)
        if column.null_count == table.num_rows:
            raise DataError(
                f"data.columns.features: column {feature.name!r} is entirely missing (all {table.num_rows} values null); "
                f"drop it or fix the source; {source}"
            )
    if schema.target is not None:
        missing = table.column(schema.target).null_count
        if missing:
            raise DataError(
                f"data.columns.target: target column {schema.target!r} has {missing} missing value(s) of {table.num_rows}; "
                f"quarantine those rows with a `max_null_fraction` expectation (max: 0.0, policy: quarantine) "
                f"or filter them in a transform; {source}"
            )


def _split(table: pa.Table, data: DataConfig, target: str | None, source: str) -> dict[str, pa.Table]:
    indices = split_indices(table, data.split, target, source)
    # Arrow's take releases the GIL, so the splits are gathered in parallel (a thread per core: more
    # threads only make more allocator heaps to fault in).
    with ThreadPoolExecutor(max_workers=min(len(SPLIT_NAMES), os.cpu_count() or 1)) as pool:
        taken = pool.map(lambda name: table.take(pa.array(indices[name])), SPLIT_NAMES)
        return dict(zip(SPLIT_NAMES, taken, strict=True))


def _describe(
    data: DataConfig,
    logical_date: str | None,
    validated: _Validated,
    class_names: list[str] | None,
    splits: dict[str, pa.Table],
) -> _Described:
    """The JSON artefacts and the metadata, computed while the splits are written."""
    schema, hint, report = validated.schema, validated.hint, validated.report
    # The hash and the whole-table statistics are single-threaded passes that release the GIL: they
    # run beside the preprocessing fit and the profile rather than after them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashing = pool.submit(content_hash, splits)
        summarising = pool.submit(column_statistics, validated.table)
        state = fit_preprocessing(
            splits["train"], schema.features, data.preprocessing, schema.target, hint, class_names, schema.weight
        )
        profile = reference_profile(
            splits["train"], schema.features, schema.target, hint, data.preprocessing.max_categories
        )
        content, statistics = hashing.result(), summarising.result()
    fingerprint = dataset_fingerprint(content, state)
    report["fingerprint"] = fingerprint
    report["rows"]["splits"] = {name: split.num_rows for name, split in splits.items()}
    metadata = _metadata(
        data, logical_date, validated.loaded, schema, hint, class_names, splits, statistics, content, fingerprint
    )
    metadata["rows"] = dict(report["rows"])
    documents = {
        FILES[key]: json.dumps(document, indent=2, sort_keys=True) + "\n"
        for key, document in (("preprocessing", state), ("report", report), ("metadata", metadata))
    }
    # The profile holds every histogram and sample the monitor needs (megabytes for big tables):
    # written compact, which uses json's C encoder (indenting falls back to the pure-Python one).
    documents[FILES["profile"]] = json.dumps(profile, sort_keys=True, separators=(",", ":")) + "\n"
    documents[FILES["summary"]] = render_summary(report) + "\n"
    return _Described(documents, metadata)


def _metadata(  # noqa: PLR0913 - budget: one of the functions above the argument limit when it was set (0.3.0); do not add more
    data: DataConfig,
    logical_date: str | None,
    loaded: LoadedSource,
    schema: Schema,
    hint: str | None,
    class_names: list[str] | None,
    splits: dict[str, pa.Table],
    statistics: dict[str, Any],
    content: str,
    fingerprint: str,
) -> dict[str, Any]:
    config = safe_config(data)
    return {
        "format": METADATA_FORMAT,
        "generator": f"mlops_declare {_package_version()}",
        "name": data.name,
        "fingerprint": fingerprint,
        "content_hash": content,
        "config_fingerprint": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "config": config,
        "logical_date": logical_date,
        "source": {"kind": data.source.kind, "location": loaded.location},
        "schema": schema.to_json(),
        "features": [feature.model_dump(mode="json") for feature in schema.features],
        "target": schema.target,
        "id": schema.id,
        "timestamp": schema.timestamp,
        "weight": schema.weight,
        "task_hint": hint,
        "class_names": class_names,
        "arrow_schema": {name: str(splits["train"].schema.field(name).type) for name in statistics},
        "statistics": statistics,
        "files": {**{name: f"{name}.parquet" for name in SPLIT_NAMES}, **FILES},
    }


def _package_version() -> str:
    # Read from the installed distribution: importing the package root would pull in the compiler.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlops_declare")
    except PackageNotFoundError:
        return "unknown"


def safe_config(data: DataConfig) -> dict[str, Any]:
    """The data config as JSON with any database password hidden."""
    config: dict[str, Any] = data.model_dump(mode="json")
    if isinstance(data.source, SqlSource):
        import sqlalchemy

        try:
            config["source"]["url"] = sqlalchemy.engine.make_url(data.source.url).render_as_string(hide_password=True)
        except sqlalchemy.exc.ArgumentError:
            config["source"]["url"] = "(unparseable URL hidden)"
    return config


def _write_atomically(output_dir: Path, tables: dict[str, pa.Table], describe: Callable[[], _Described]) -> _Described:
    """Write into a staged folder beside `output_dir`, which replaces it once every file is written and fsynced.

    The Parquet files are encoded in background threads (pyarrow releases the GIL) while `describe`
    computes the small files' text, so the two overlap; nothing is swapped in unless both succeed.
    """
    with staged_directory(output_dir) as staging:
        with ThreadPoolExecutor(max_workers=len(tables)) as pool:
            written = [pool.submit(_write_parquet, staging / name, table) for name, table in tables.items()]
            described = describe()
            for future in written:
                future.result()
        for name, text in described.documents.items():
            (staging / name).write_text(text, encoding="utf-8")
    return described


def _write_parquet(path: Path, table: pa.Table) -> None:
    # Dictionary encoding pays off for text, codes and labels; for floats it is tried, fails and costs time.
    dictionary = [field.name for field in table.schema if not pa.types.is_floating(field.type)]
    pq.write_table(table, path, compression="zstd", use_dictionary=dictionary)
    # Flushed here, in the writer thread, while `describe` runs; the staged folder's final fsync pass then has little left.
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())
