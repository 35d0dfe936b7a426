"""The sql source against the local PostgreSQL (127.0.0.1:5432, trust auth, database `test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mlops_declare.data import prepare_dataset
from mlops_declare.errors import DataError
from tests.unit.data.helpers import all_rows, config

pytestmark = pytest.mark.postgres
DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def readings() -> Iterator[str]:
    """A table of sensor readings with a unique name, dropped afterwards."""
    table = f"readings_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {table} (id integer, day date, temperature numeric(6,2), site text, alarm boolean)"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)",
                [(i, f"2026-11-{25 + i % 2}", 20 + i / 4, ("north", "south")[i % 2], i % 3 == 0) for i in range(60)],
            )
    try:
        yield table
    finally:
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {table}")


def test_sql_source_reads_postgres_with_the_logical_date(tmp_path: Path, readings: str) -> None:
    data = config(
        {
            "kind": "sql",
            "url": "postgresql+psycopg://postgres:not-a-secret-pw@127.0.0.1:5432/test",
            "query": f"SELECT id, temperature, site, alarm FROM {readings} WHERE day = DATE '{{ds}}'",
        },
        columns={"target": "alarm"},
        expectations=[{"kind": "range", "column": "temperature", "min": 0.0, "max": 50.0}],
    )
    prepared = prepare_dataset(data, tmp_path / "out", logical_date="2026-11-25", project_root=tmp_path)
    rows = all_rows(prepared)
    assert rows.num_rows == 30 and rows.column("id").to_pylist() == list(range(0, 60, 2))
    assert str(rows.schema.field("temperature").type) == "double"  # NUMERIC arrives as a number
    assert prepared.feature_names == ["temperature", "site"]
    assert prepared.metadata()["class_names"] == ["false", "true"]
    written = "".join(path.read_text() for path in prepared.directory.glob("*.json"))
    assert "not-a-secret-pw" not in written and "postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in written


def test_postgres_error_names_the_query_and_hides_the_password(tmp_path: Path) -> None:
    data = config(
        {
            "kind": "sql",
            "url": "postgresql+psycopg://postgres:hunter2@127.0.0.1:5432/test",
            "query": "SELECT * FROM no_such_table_here",
        }
    )
    with pytest.raises(
        DataError,
        match=r"data\.source\.query: sql source 'postgresql\+psycopg://postgres:\*\*\*@127\.0\.0\.1:5432/test': .*no_such_table_here",
    ) as caught:
        prepare_dataset(data, tmp_path / "out", project_root=tmp_path)
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_postgres_query_with_no_rows_is_empty_result(tmp_path: Path, readings: str) -> None:
    data = config(
        {
            "kind": "sql",
            "url": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "query": f"SELECT * FROM {readings} WHERE day = DATE '{{ds}}'",
        }
    )
    with pytest.raises(DataError, match=r"data\.source: sql source .* returned no rows"):
        prepare_dataset(data, tmp_path / "out", logical_date="2020-01-01", project_root=tmp_path)
