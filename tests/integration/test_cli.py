"""The `mlops-declare` command as a user runs it: a fresh project, real processes, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edit_yaml

VERBS = ["init", "validate", "compile", "plan", "schema", "run"]


def cli(*arguments: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_declare", *arguments],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    result = cli("init", "shop", "--name", "shop", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "shop"


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str, tmp_path: Path) -> None:
    result = cli(verb, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert f"mlops-declare {verb}" in result.stdout


def test_init_creates_a_working_project(new_project: Path) -> None:
    assert (new_project / "conf" / "config.yaml").is_file()
    assert (new_project / "schemas" / "config.schema.json").is_file()
    assert "name: shop" in (new_project / "conf" / "config.yaml").read_text()
    result = cli("validate", cwd=new_project)
    assert result.returncode == 0, result.stderr
    assert "valid: project 'shop'" in result.stdout


def test_init_never_overwrites(new_project: Path) -> None:
    result = cli("init", str(new_project), cwd=new_project.parent)
    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_compile_then_check_then_stale(new_project: Path) -> None:
    compiled = cli("compile", cwd=new_project)
    assert compiled.returncode == 0, compiled.stderr
    assert "+ dags/shop_training.py" in compiled.stdout
    assert (new_project / "plan.json").is_file()
    assert (new_project / "service" / "service.py").is_file()
    again = cli("compile", cwd=new_project)
    assert "0 to add, 0 to change, 0 to remove" in again.stdout
    assert cli("compile", "--check", cwd=new_project).returncode == 0

    edit_yaml(
        new_project / "conf/orchestration/default.yaml",
        'training_schedule: "@weekly"',
        'training_schedule: "0 4 * * *"',
    )
    stale = cli("compile", "--check", cwd=new_project)
    assert stale.returncode == 2
    assert "generated files are stale" in stale.stderr
    assert "~ dags/shop_training.py" in stale.stderr and "~ plan.json" in stale.stderr
    planned = cli("plan", cwd=new_project)
    assert "~ dags/shop_training.py" in planned.stdout
    assert "DAG shop_training (schedule: 0 4 * * * or asset mlops-declare://shop/" in planned.stdout
    assert cli("compile", cwd=new_project).returncode == 0
    assert cli("compile", "--check", cwd=new_project).returncode == 0


def test_compile_removes_dags_it_no_longer_generates(new_project: Path) -> None:
    assert cli("compile", cwd=new_project).returncode == 0
    assert cli("compile", "orchestration.dag_prefix=renamed", cwd=new_project).returncode == 0
    dags = sorted(path.name for path in (new_project / "dags").glob("*.py"))
    assert dags == ["renamed_monitoring.py", "renamed_training.py"]
    assert cli("compile", cwd=new_project).returncode == 0


def test_misspelt_trainer_key_is_one_line(new_project: Path, tmp_path: Path) -> None:
    path = new_project / "conf/trainer/cpu.yaml"
    original = path.read_text()
    try:
        edit_yaml(path, "max_epochs: 20", "max_epocs: 20")
        result = cli("validate", cwd=new_project)
    finally:
        path.write_text(original)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == "conf/trainer/cpu.yaml: trainer.max_epocs: unknown key 'max_epocs' (did you mean 'max_epochs'?)\n"
    )


def test_traceback_only_on_request(new_project: Path) -> None:
    plain = cli("validate", "trainer.max_epochs=0", cwd=new_project)
    assert "Traceback" not in plain.stderr
    full = cli("validate", "trainer.max_epochs=0", cwd=new_project, env={"MLOPS_DECLARE_FULL_ERROR": "1"})
    assert "Traceback" in full.stderr and "trainer.max_epochs: must be > 0, got 0" in full.stderr


def test_bad_override_syntax_is_reported(new_project: Path) -> None:
    result = cli("validate", "model.hidden=[1,", cwd=new_project)
    assert result.returncode == 2
    assert result.stderr.startswith("command line: model.hidden=[1,: bad override syntax")


def test_schema_check(new_project: Path) -> None:
    assert cli("schema", "--check", cwd=new_project).returncode == 0
    (new_project / "schemas" / "trainer.schema.json").write_text("{}\n")
    stale = cli("schema", "--check", cwd=new_project)
    assert stale.returncode == 2 and "~ schemas/trainer.schema.json" in stale.stderr
    assert cli("schema", cwd=new_project).returncode == 0
    assert cli("schema", "--check", cwd=new_project).returncode == 0


def test_config_dir_option(new_project: Path, tmp_path: Path) -> None:
    result = cli("validate", "--config-dir", str(new_project / "conf"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_validate_prints_resolved_config(new_project: Path) -> None:
    result = cli("validate", "--print", "experiment=digits_cnn", cwd=new_project)
    assert result.returncode == 0
    assert '"kind": "cnn"' in result.stdout


def test_run_executes_the_planned_steps_idempotently(new_project: Path) -> None:
    first = cli("run", "--logical-date", "2026-11-26", cwd=new_project)
    assert first.returncode == 0, first.stderr
    run_dirs = list((new_project / ".mlops" / "runs").iterdir())
    assert len(run_dirs) == 1 and run_dirs[0].name.startswith("shop_training_2026-11-26_")
    assert (run_dirs[0] / "plan.json").is_file()  # the run's own snapshot of the plan it ran
    assert "metrics of the trained model (re-scored by evaluate):" in first.stdout
    assert "  accuracy" in first.stdout.split("metrics of the trained model", 1)[1]
    assert (run_dirs[0] / "steps" / "snapshot_config.json").is_file()
    second = cli("run", "--logical-date", "2026-11-26", cwd=new_project)
    assert second.returncode == 0
    assert len(list((new_project / ".mlops" / "runs").iterdir())) == 1


def test_run_rejects_bad_logical_date(new_project: Path) -> None:
    result = cli("run", "--logical-date", "26/11/2026", cwd=new_project)
    assert result.returncode == 2
    assert "--logical-date: '26/11/2026' is not a date (YYYY-MM-DD)" in result.stderr


def test_run_refuses_a_trigger_file_it_cannot_use(new_project: Path) -> None:
    missing = cli("run", "--trigger-file", "nowhere.jsonl", cwd=new_project)
    assert missing.returncode == 2 and "--trigger-file nowhere.jsonl: cannot read it" in missing.stderr
    (new_project / "bad.jsonl").write_text('{"reason": "drift"}\n[1, 2]\n')
    listed = cli("run", "--trigger-file", "bad.jsonl", cwd=new_project)
    assert listed.returncode == 2 and "its last line is a JSON list, not a retrain request object" in listed.stderr
    assert "Traceback" not in missing.stderr + listed.stderr


SHIFTED_FEATURES = (
    "mean radius",
    "mean texture",
    "mean perimeter",
    "mean area",
    "worst radius",
    "worst texture",
    "worst area",
    "worst perimeter",
)
"""Features a drifted client sends shifted by several standard deviations."""


def drifted_records(rows: int, sigmas: float = 4.0) -> list[dict[str, float]]:
    """Breast-cancer rows with SHIFTED_FEATURES moved up by `sigmas` standard deviations (in range for the model's input types)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    spread = data.data.std(axis=0)
    records = []
    for row in data.data[:rows]:
        record = dict(zip(map(str, data.feature_names), map(float, row), strict=True))
        for position, name in enumerate(data.feature_names):
            if name in SHIFTED_FEATURES:
                record[str(name)] += sigmas * float(spread[position])
        records.append(record)
    return records


def logged_rows(home: Path) -> int:
    """Served rows in the inference log (complete parts only, as mlops_declare/contracts/seams.py promises)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(part).num_rows for part in (home / "inferences").glob("date=*/part-*.parquet"))


def send(url: str, records: list[dict[str, float]], batch: int = 20) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(records), batch):
            response = client.post("/predict", json={"records": records[start : start + batch]})
            assert response.status_code == 200, response.text


def wait_for_rows(home: Path, rows: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while logged_rows(home) < rows:
        assert time.monotonic() < deadline, f"the inference log holds {logged_rows(home)} rows, not {rows}"
        time.sleep(0.5)


def open_registry(project: Path) -> Any:
    from mlops_declare.config import load_config
    from mlops_declare.registry import open_registry as open_store

    return open_store(load_config(project / "conf").config.registry, project, read_only=True)


@pytest.mark.slow
def test_monitoring_run_on_served_traffic_then_a_run_from_its_retrain_request(project: Path, tmp_path: Path) -> None:
    """Outside Airflow: `run` deploys v1, `serve` logs drifted traffic, `run --dag monitoring` appends the
    retrain request, `run --trigger-file` retrains from it and the request lands in version 2's lineage."""
    from tests.integration.serve.conftest import serve

    edit_yaml(project / "conf" / "registry" / "local.yaml", "min: 0.9, min_improvement: 0.0}", "min: 0.5}")
    settings = (
        "trainer.max_epochs=2",
        "trainer.early_stopping=null",
        "registry.auto_promote=[staging,production]",
        "monitoring.window.size_rows=100",
        "monitoring.window.min_rows=50",
        "monitoring.drift.drift_share=0.2",
        "orchestration.triggers.min_retrain_interval_hours=0",
    )
    env = {"BENTOML_HOME": str(tmp_path / "bentoml"), "MLOPS_DECLARE_SERVE_CACHE": str(tmp_path / "serve-cache")}
    trained = cli("run", "--run-id", "first", *settings, cwd=project, env=env)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-3000:]
    assert "deploy: done; candidate=breast_cancer:1, deployed=True" in trained.stdout, trained.stdout[-2000:]
    server = serve(project, *settings, "serving.inference_log.part_max_seconds=1", env=env)
    try:
        send(server.url, drifted_records(100))
        wait_for_rows(project / ".mlops", 100)
    finally:
        server.stop()

    monitored = cli("run", "--dag", "monitoring", "--run-id", "check", *settings, cwd=project, env=env)
    assert monitored.returncode == 0, monitored.stdout[-2000:] + monitored.stderr[-3000:]
    act = json.loads((project / ".mlops" / "runs" / "check" / "steps" / "act.json").read_text())
    assert act["dataset_drift"] is True and act["retrain_requested"] is True, act
    requests = project / ".mlops" / "triggers" / "retrain.jsonl"
    request = json.loads(requests.read_text().splitlines()[-1])
    assert request == act["retrain"]
    assert request["reason"] == "drift" and request["model"] == "breast_cancer:1" and request["window"]["rows"] == 100
    assert set(SHIFTED_FEATURES) & set(request["verdict"]["drifted_columns"])
    # A manual run's conf may name a file to check instead of the log: read from the trigger's extra only.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_declare.config import load_config
    from tests.runner import run_step_json

    pq.write_table(pa.Table.from_pylist(drifted_records(60)), project / "current.parquet")
    loaded = load_config(project / "conf", list(settings))
    for trigger, rows in (
        ({"kind": "dag_run_conf", "extra": {"current": "current.parquet"}}, 60),
        ({"kind": "dag_run_conf", "extra": {}, "asset": None}, 100),
    ):
        collected = run_step_json("collect_window", loaded, project, "conf_run", "2026-11-30", {}, trigger)
        assert collected["window"]["rows"] == rows, (trigger, collected)

    retrained = cli("run", "--run-id", "retrain", "--trigger-file", str(requests), *settings, cwd=project, env=env)
    assert retrained.returncode == 0, retrained.stdout[-2000:] + retrained.stderr[-3000:]
    assert f"triggered by {requests}: check_id={request['check_id']}" in retrained.stdout
    with open_registry(project) as registry:
        version = registry.resolve("breast_cancer:2")
        assert version.lineage.extra["trigger"] == {"kind": "retrain_request", "extra": request}
        assert registry.resolve("breast_cancer@production").version == 2
