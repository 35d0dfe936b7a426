"""The compiler: pure, deterministic, golden-file tested; generated files carry the header."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from mlops_declare.compiler import compile_outputs, compile_plan
from mlops_declare.config import fingerprint_of, load_config
from mlops_declare.errors import CompileError
from tests.conftest import REPO_ROOT

CONF = REPO_ROOT / "conf"
GOLDEN = REPO_ROOT / "tests" / "golden"
GOLDEN_CASES = {
    "example": [],
    "digits_cnn": ["experiment=digits_cnn"],
    "new_data_trigger": [
        "orchestration.triggers.new_data=true",
        "orchestration.triggers.data_asset=file:///data/incoming",
        "orchestration.task_runner=celery",
        "orchestration.queue=default",
        "orchestration.training_queue=training",
        "orchestration.pool=ml",
    ],
}


def _outputs(overrides: list[str]) -> dict[str, str]:
    _plan, files = compile_outputs(load_config(CONF, overrides))
    return {path: text for path, text in files.items() if not path.startswith("schemas/")}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_generated_files_match_golden(case: str, update_golden: bool) -> None:
    files = _outputs(GOLDEN_CASES[case])
    folder = GOLDEN / case
    if update_golden:
        shutil.rmtree(folder, ignore_errors=True)
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    on_disk = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    assert on_disk == sorted(files), "golden files differ in name; rerun with --update-golden and review"
    for path, text in files.items():
        assert (folder / path).read_text(encoding="utf-8") == text, f"{path} differs; rerun with --update-golden"


def test_same_config_same_bytes() -> None:
    assert _outputs([]) == _outputs([])


def test_plan_fingerprint_is_sha256_of_canonical_json() -> None:
    plan = compile_plan(load_config(CONF))
    data = json.loads(plan.to_json())
    claimed = data.pop("fingerprint")
    assert claimed == fingerprint_of(data)
    assert len(claimed) == 64


def test_edges_are_derived_from_inputs_and_outputs() -> None:
    plan = compile_plan(load_config(CONF))
    training = plan.dags[0]
    assert training.dag_id == "example_training"
    assert ("ingest", "validate_data") in plan.edges and ("validate_data", "train") in plan.edges
    assert ("register", "promote") in plan.edges
    upstream = {task.name: task.upstream for task in training.tasks}
    assert upstream["snapshot_config"] == () and upstream["ingest"] == ("snapshot_config",)
    assert upstream["promote"] == ("ingest", "register")
    assert ("ingest", "promote") not in training.edges and ("register", "promote") in training.edges
    assert {task.name: task.gate for task in training.tasks if task.gate} == {"promote": "blessed"}


def test_a_custom_catalogue_expresses_gates_assets_and_a_second_dag() -> None:
    from mlops_declare.contracts.steps import Output, StepDeclaration

    steps = (
        StepDeclaration(
            name="collect",
            dags=("monitoring",),
            function="m:collect",
            result="WindowResult",
            description="d",
            outputs=(Output(name="window", kind="json", location="{home}/w.json"),),
        ),
        StepDeclaration(
            name="check",
            dags=("monitoring",),
            function="m:check",
            result="MonitoringCheckResult",
            description="d",
            inputs=("window",),
            outputs=(Output(name="verdict", kind="json", location="{home}/v.json"),),
            gate="retrain_requested",
        ),
        StepDeclaration(
            name="request_retrain",
            dags=("monitoring",),
            function="m:request",
            result="RetrainResult",
            description="d",
            inputs=("verdict",),
            emits=("retrain",),
        ),
        StepDeclaration(name="train", dags=("training",), function="m:train", result="TrainResult", description="d"),
    )
    plan = compile_plan(load_config(CONF, ["orchestration.triggers.drift=true"]), steps)
    training, monitoring = plan.dags
    assert training.schedule.assets == ("mlops-declare://example/breast_cancer/retrain",)
    assert monitoring.tasks[2].outlets == ("mlops-declare://example/breast_cancer/retrain",)
    text = compile_outputs_from(plan)
    assert "@task.short_circuit(task_id='check'" in text["dags/example_monitoring.py"]
    assert "outlets=[ASSET_0]" in text["dags/example_monitoring.py"]
    assert "AssetOrTimeSchedule" in text["dags/example_training.py"]


def compile_outputs_from(plan: object) -> dict[str, str]:
    from mlops_declare.compiler.airflow import render_dags

    return render_dags(plan, "conf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((("a", (), ("x",)), ("b", ("y",), ())), "step 'b' reads 'y', which no step produces"),
        ((("a", ("x",), ()), ("b", (), ("x",))), "step 'a' reads 'x', which step 'b' produces only later"),
        ((("a", (), ("x",)), ("a", (), ("z",))), "step 'a' is declared twice"),
        ((("a", (), ("x",)), ("b", (), ("x",))), "output 'x' is produced by both 'a' and 'b'"),
    ],
)
def test_broken_catalogues_are_refused(steps: tuple, message: str) -> None:  # type: ignore[type-arg]
    from mlops_declare.contracts.steps import Output, StepDeclaration

    declared = tuple(
        StepDeclaration(
            name=name,
            dags=("training",),
            function="m:f",
            result="SnapshotResult",
            description="d",
            inputs=inputs,
            outputs=tuple(Output(name=o, kind="json", location="x") for o in outputs),
        )
        for name, inputs, outputs in steps
    )
    with pytest.raises(CompileError, match=message):
        compile_plan(load_config(CONF), declared)


def test_generated_python_parses_and_carries_the_header() -> None:
    for path, text in _outputs([]).items():
        if path.endswith(".py"):
            ast.parse(text)
            assert "Generated by mlops-declare" in text.split("\n", 5)[2]
            assert "Do not edit; regenerate with `mlops-declare compile`." in text
            assert "import torch" not in text.split("def ")[0]


def test_dag_holds_structure_and_the_plan_fingerprint_not_the_config() -> None:
    plan = compile_plan(load_config(CONF))
    text = _outputs([])["dags/example_training.py"]
    assert f"PLAN_FINGERPRINT = {plan.dag('training').fingerprint!r}" in text
    assert "PROJECT = 'example'" in text and "PROJECT_ROOT_VARIABLE = 'MLOPS_DECLARE_ROOT_EXAMPLE'" in text
    assert " open(" not in text and "load_config" not in text and "Path(__file__)" not in text
    assert "CONFIG_JSON" not in text and "max_epochs" not in text
    assert "- `trainer`: `cpu`" in text  # doc_md names the config choices


def test_cross_group_contradiction_stops_compilation() -> None:
    with pytest.raises(CompileError, match="trainer.precision: '16-mixed' needs a CUDA GPU"):
        compile_plan(load_config(CONF, ["trainer.precision=16-mixed"]))


def test_service_request_model_follows_data_features() -> None:
    service = _outputs([])["service/service.py"]
    assert (
        "mean_radius: StrictFloat | None = Field(default=None, description=\"numeric feature 'mean radius'" in service
    )
    assert "'batching': {'enabled': True, 'max_batch_size': 64, 'max_latency_ms': 20}" in service
    digits = _outputs(["experiment=digits_cnn"])["service/service.py"]
    assert "image: list[list[list[StrictFloat]]] = Field(description=" in digits


def test_compiler_and_config_stay_pure(tmp_path: Path) -> None:
    before = sorted(tmp_path.iterdir())
    compile_outputs(load_config(CONF))
    assert sorted(tmp_path.iterdir()) == before
