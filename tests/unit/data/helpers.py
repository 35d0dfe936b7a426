"""Shared helpers of the data tests: configs from plain dicts, small files on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_declare.config.data import DataConfig
from mlops_declare.data import PreparedDataset, prepare_dataset


def config(source: dict[str, Any], **fields: Any) -> DataConfig:
    """A DataConfig validated exactly as the loader would."""
    return DataConfig.model_validate({"name": "t", "source": source, **fields})


def csv_source(path: Path, **extra: Any) -> dict[str, Any]:
    return {"kind": "csv", "path": str(path), **extra}


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def numbered_csv(path: Path, rows: int = 40, extra: str = "") -> Path:
    """id,x,y,colour,target with predictable values; `extra` is appended as raw lines."""
    lines = ["id,x,y,colour,target"]
    for index in range(rows):
        colour = ("red", "green", "blue")[index % 3]
        lines.append(f"{index},{index * 0.5},{(index % 7) - 3},{colour},{index % 2}")
    text = "\n".join(lines) + "\n" + extra
    path.write_text(text, encoding="utf-8")
    return path


def prepare(data: DataConfig, tmp_path: Path, name: str = "out", **kwargs: Any) -> PreparedDataset:
    return prepare_dataset(data, tmp_path / name, project_root=tmp_path, **kwargs)


def all_rows(prepared: PreparedDataset) -> pa.Table:
    """Every split's rows together, sorted by `id` when there is one."""
    tables = [pq.read_table(path) for path in prepared.splits.values()]
    table = pa.concat_tables(tables)
    return table.sort_by("id") if "id" in table.column_names else table
