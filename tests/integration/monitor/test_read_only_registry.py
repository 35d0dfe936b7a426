"""Monitors open the registry read-only (contracts/seams.py): `drift`, `monitor` and `monitor history`
never migrate or write it; recording a check is their one write, through its own short writable open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select

from mlops_declare.cli import main
from mlops_declare.config import load_config
from mlops_declare.monitor.reference import file_profile
from mlops_declare.registry import Registry, open_registry
from mlops_declare.registry.database import UPGRADE_COMMAND, create_registry_engine, current_revision, head_revision
from mlops_declare.registry.models import Event, ModelVersionRow
from mlops_declare.registry.monitoring_tables import MonitoringCheck
from tests.unit.registry.support import make_package

MODEL = "shop:1"
# A small, quick check: no multivariate tests (they are covered elsewhere), no alert files.
OVERRIDES = (
    "monitoring.multivariate.domain_classifier.enabled=false",
    "monitoring.multivariate.reconstruction.enabled=false",
    "monitoring.alerts=[]",
)


def _features(rows: int, shift: float, seed: int) -> pa.Table:
    generator = np.random.default_rng(seed)
    return pa.table({name: generator.normal(shift, 1.0, rows) for name in ("x", "y", "z")})


@pytest.fixture
def registered(project: Path) -> Path:
    """The example project with one registered package (`shop:1`) carrying the profile of reference.parquet."""
    loaded = load_config(project / "conf", list(OVERRIDES))
    pq.write_table(_features(400, 0.0, 1), project / "reference.parquet")
    pq.write_table(_features(400, 0.0, 2), project / "current.parquet")
    pq.write_table(_features(400, 3.0, 3), project / "shifted.parquet")
    profile = file_profile(project / "reference.parquet", loaded.config.monitoring.drift)
    package = make_package(
        project / "package", **{"reference_profile.json": json.dumps(profile.to_json()).encode("utf-8")}
    )
    with open_registry(loaded.config.registry, project, read_only=False) as registry:
        registry.register("shop", package)
    return project


def cli(project: Path, *arguments: str) -> int:
    """`mlops-declare COMMAND [VERB] --config-dir ... OVERRIDES [OPTIONS]`, in this process."""
    command, *rest = arguments
    verbs = [word for word in rest[:1] if word in ("history", "upgrade")]
    if command == "registry":
        return main([command, *verbs, "--config-dir", str(project / "conf"), *OVERRIDES])
    return main([command, "--config-dir", str(project / "conf"), *verbs, *OVERRIDES, *rest[len(verbs) :]])


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Every registry open from here on, as its `read_only` flag."""
    seen: list[bool] = []
    real = Registry.open.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Registry], *args: Any, read_only: bool = False, **kwargs: Any) -> Registry:
        seen.append(read_only)
        return real(cls, *args, read_only=read_only, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Registry, "open", classmethod(spy))
    yield seen


def _database(project: Path) -> str:
    return f"sqlite:///{project / '.mlops' / 'registry.db'}"


def _counts(project: Path) -> dict[str, int]:
    engine = create_engine(_database(project))
    try:
        with engine.connect() as connection:
            return {
                table.__name__: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (Event, ModelVersionRow, MonitoringCheck)
            }
    finally:
        engine.dispose()


def _revision(project: Path) -> str | None:
    engine = create_registry_engine(_database(project))
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_drift_without_a_record_only_reads_the_registry(registered: Path, opens: list[bool]) -> None:
    before = _counts(registered)
    assert (
        cli(registered, "drift", "--current", str(registered / "current.parquet"), "--model", MODEL, "--no-record") == 0
    )
    assert (
        cli(registered, "drift", "--current", str(registered / "shifted.parquet"), "--model", MODEL, "--no-record") == 1
    )
    assert cli(registered, "monitor", "history") == 0
    assert opens and not any(not read_only for read_only in opens), opens
    assert _counts(registered) == before


def test_a_recorded_check_is_the_one_write(
    registered: Path, opens: list[bool], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _counts(registered)
    code = cli(registered, "monitor", "--current", str(registered / "shifted.parquet"), "--model", MODEL, "--json")
    assert code == 1
    check = json.loads(capsys.readouterr().out)
    assert opens.count(False) == 1, opens  # the record; resolving the model, the retrain interval and the history read
    assert check["retrain"]["check_id"] == check["check_id"] and check["retrain"]["model"] == MODEL
    assert Path(check["reports"]["html"]).is_file()
    assert _counts(registered) == {**before, "MonitoringCheck": before["MonitoringCheck"] + 1}
    opens.clear()
    assert cli(registered, "drift", "--current", str(registered / "current.parquet"), "--model", MODEL) == 0
    assert opens.count(False) == 1, opens
    assert _counts(registered)["MonitoringCheck"] == before["MonitoringCheck"] + 2


def test_monitors_never_migrate_an_older_registry(registered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A registry left at the revision before head (as an older mlops_declare left it) is refused, not migrated."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from mlops_declare.registry.database import _alembic_config

    previous = ScriptDirectory.from_config(_alembic_config()).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    engine = create_engine(_database(registered))
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, previous)
    finally:
        engine.dispose()
    capsys.readouterr()
    current = str(registered / "current.parquet")
    for arguments in (("drift", "--current", current, "--model", MODEL, "--no-record"), ("monitor", "history")):
        assert cli(registered, *arguments) == 2
        error = capsys.readouterr().err
        assert f"older than the revision {head_revision()!r}" in error and UPGRADE_COMMAND in error, error
        assert _revision(registered) == previous
    assert cli(registered, "registry", "upgrade") == 0
    assert cli(registered, "drift", "--current", current, "--model", MODEL, "--no-record") == 0
    assert _revision(registered) == head_revision()
