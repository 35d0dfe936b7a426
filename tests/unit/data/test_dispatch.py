"""Sources and transforms dispatch on `kind` through a table: every declared kind has a handler,
and a kind without one fails loudly instead of falling into another kind's branch."""

from __future__ import annotations

import typing
from pathlib import Path

import duckdb
import pytest

from mlops_declare.config.data import SPLIT_NAMES, DataConfig, DropTransform, GeneratedSource, Source, Transform
from mlops_declare.data.sources import SOURCE_LOADERS, load_source
from mlops_declare.data.transforms import TRANSFORM_BUILDERS, apply_transforms
from mlops_declare.errors import DataError


def _kinds(annotated: object) -> set[str]:
    union = typing.get_args(annotated)[0]
    return {typing.get_args(model.model_fields["kind"].annotation)[0] for model in typing.get_args(union)}


def test_every_source_and_transform_kind_has_a_handler() -> None:
    assert set(SOURCE_LOADERS) == _kinds(Source)
    assert set(TRANSFORM_BUILDERS) == _kinds(Transform)


def test_unknown_source_kind_fails_naming_the_kind(tmp_path: Path) -> None:
    source = GeneratedSource.model_construct(kind="excel", rows=3, seed=0, columns=[])  # type: ignore[arg-type]
    with duckdb.connect() as connection, pytest.raises(DataError, match=r"data.source.kind: .*'excel'"):
        load_source(source, None, tmp_path, connection)


def test_unknown_transform_kind_fails_naming_the_kind() -> None:
    transform = DropTransform.model_construct(kind="pivot", columns=["a"])  # type: ignore[arg-type]
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE stage_0 AS SELECT 1 AS a, 2 AS b")
        with pytest.raises(DataError, match=r"data.transforms\[0\].*'pivot'"):
            apply_transforms(connection, [transform], "stage_0", "test table")


def test_split_names_are_declared_once_and_listed_in_the_schema() -> None:
    schema = DataConfig.model_json_schema()
    column_split = schema["$defs"]["ColumnSplit"]["properties"]["column"]
    assert column_split["x-cell-values"] == list(SPLIT_NAMES) == ["train", "val", "test"]
    assert set(schema["$defs"]["SplitFractions"]["properties"]) == set(SPLIT_NAMES)
