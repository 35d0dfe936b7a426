"""The monitor as a user meets it: train and register the example, then `drift` on held-out and
shifted data (exit codes, JSON, an HTML report rendered in headless Chromium), `monitor` on the
served model's inference log before and after the labels arrive, alerts to a webhook on loopback,
the retrain request, `monitor history`, and the DAG's step functions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import CI_RUN_INSTALLS, ci_dependency_missing
from tests.integration.monitor.inference_log import write_part

REPO_ROOT = Path(__file__).resolve().parents[3]
CLI = [str(Path(sys.executable).parent / "mlops-declare")]
MODEL = "breast_cancer@staging"
SHIFTED = ("mean radius", "mean texture", "worst area")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, trained briefly and registered (staging), with bins from monitoring.drift.bins=12."""
    root = tmp_path_factory.mktemp("monitor") / "project"
    root.mkdir()
    shutil.copytree(REPO_ROOT / "conf", root / "conf")
    result = cli("run", "trainer.max_epochs=2", "monitoring.drift.bins=12", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (test_split,) = list((root / ".mlops" / "runs").glob("*/data/test.parquet"))
    held_out = pq.read_table(test_split)
    pq.write_table(held_out, root / "held_out.parquet")
    columns = {
        name: pc.multiply(held_out.column(name).cast(pa.float64()), 1.6) if name in SHIFTED else held_out.column(name)
        for name in held_out.column_names
    }
    pq.write_table(pa.table(columns), root / "shifted.parquet")
    return root


def test_registered_package_carries_the_reference_profile(trained: Path) -> None:
    from mlops_declare.config import load_config
    from mlops_declare.data.profile import load_reference_profile
    from mlops_declare.registry import open_registry

    loaded = load_config(trained / "conf")
    with open_registry(loaded.config.registry, trained, read_only=True) as registry:
        package = registry.load(MODEL)
    profile = load_reference_profile(package)
    assert profile.bins == 12 and profile.format_version == 2
    assert profile.target is not None and profile.target.name == "target"
    assert len(profile.columns) == 30 and profile.sample_rows == profile.rows
    spec = json.loads((Path(package) / "model_spec.json").read_text())
    assert "reference_profile.json" in spec["files"] and spec["reference_profile"] == "reference_profile.json"


def _charts_drawn(report: Path, tmp_path: Path) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        ci_dependency_missing("Debian's chromium renders the report and is not on PATH", CI_RUN_INSTALLS)
    result = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_drift_on_held_out_data_is_quiet_and_on_shifted_data_alarms(trained: Path, tmp_path: Path) -> None:
    quiet = cli(
        "drift", "--current", "held_out.parquet", "--model", MODEL, "--json", str(tmp_path / "quiet.json"), cwd=trained
    )
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "verdict: no drift" in quiet.stdout
    loud = cli(
        "drift",
        "--current",
        "shifted.parquet",
        "--model",
        MODEL,
        "--json",
        str(tmp_path / "loud.json"),
        "--report",
        str(tmp_path / "loud.html"),
        cwd=trained,
    )
    assert loud.returncode == 1, loud.stdout + loud.stderr
    result = json.loads((tmp_path / "loud.json").read_text())
    assert sorted(result["drift_result"]["dataset"]["drifted_columns"]) == sorted(SHIFTED)
    assert result["model"] == {"name": "breast_cancer", "version": 1}
    dom = _charts_drawn(tmp_path / "loud.html", tmp_path)
    # Plotly draws each chart as SVG; every drifted column has its reference-vs-current chart.
    for chart in ("scores-p_value", "distribution-0", "distribution-1", "distribution-2", "history"):
        start = dom.index(f'id="{chart}"')
        assert 'class="main-svg"' in dom[start : start + 20000], chart
    assert dom.count('class="main-svg"') >= 10
    for column in SHIFTED:
        assert f"{column}: reference vs current" in dom
    # Two files and no model: the reference comes from the other file.
    files = cli("drift", "--current", "shifted.parquet", "--reference", "held_out.parquet", "--no-record", cwd=trained)
    assert files.returncode == 1 and "dataset drift: no (3 of 31 columns" in files.stdout


def test_drift_errors_exit_2_with_a_message(trained: Path) -> None:
    result = cli("drift", "--current", "nowhere.parquet", "--model", MODEL, cwd=trained)
    assert result.returncode == 2 and "nowhere.parquet: no such file" in result.stderr
    result = cli("drift", "--current", "held_out.parquet", "--model", "breast_cancer:9", cwd=trained)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def _log_held_out(trained: Path, hour: int) -> pa.Table:
    """Serve the held-out rows through the registered package and log them as the service would."""
    from mlops_declare.config import load_config
    from mlops_declare.registry import open_registry
    from mlops_declare.train.package import load_package

    loaded = load_config(trained / "conf")
    with open_registry(loaded.config.registry, trained, read_only=True) as registry:
        package = load_package(Path(registry.load(MODEL)))
    table = pq.read_table(trained / "held_out.parquet")
    features = table.drop_columns(["target"])
    positive = package.predict_records(features.to_pylist())
    probabilities = [[1.0 - float(p), float(p)] for p in np.asarray(positive).reshape(-1)]
    ids = [f"req-{hour}-{index}" for index in range(table.num_rows)]
    write_part(
        trained / ".mlops",
        features,
        probabilities,
        [str(n) for n in package.spec["class_names"]],
        "breast_cancer",
        1,
        datetime(2026, 11, 30, hour, tzinfo=UTC),
        ids,
    )
    return pa.table({"request_id": ids, "label": [str(v) for v in table.column("target").to_pylist()]})


def test_monitor_on_the_inference_log_then_labels_arrive(trained: Path, tmp_path: Path) -> None:
    labels = _log_held_out(trained, 9)
    performance = "monitoring.performance={metric: accuracy, min: 0.5, labels: {kind: file, path: labels.csv}}"
    before = cli("monitor", "--model", MODEL, "--json", performance, cwd=trained)
    assert before.returncode == 0, before.stdout + before.stderr
    first = json.loads(before.stdout)
    assert first["window"]["rows"] == labels.num_rows
    assert [(m["name"], m["estimated"]) for m in first["performance"]["metrics"]] == [("accuracy", True)]
    assert first["drift_result"]["prediction"]["column"] == "prediction"
    # The labels arrive (as a CSV keyed by request id) and the next check measures accuracy.
    import pyarrow.csv as pacsv

    pacsv.write_csv(labels, trained / "labels.csv")
    after = cli("monitor", "--model", MODEL, "--json", performance, cwd=trained)
    assert after.returncode == 0, after.stdout + after.stderr
    metrics = {(m["name"], m["estimated"]): m for m in json.loads(after.stdout)["performance"]["metrics"]}
    assert set(metrics) == {("accuracy", True), ("accuracy", False)}
    assert (
        metrics[("accuracy", False)]["rows"] == labels.num_rows and 0.5 <= metrics[("accuracy", False)]["value"] <= 1.0
    )
    history = cli("monitor", "history", "--json", cwd=trained)
    checks = json.loads(history.stdout)
    measured = [m for m in checks[0]["metrics"] if m["name"] == "performance.accuracy"]
    assert {m["estimated"] for m in measured} == {True, False}
    assert checks[0]["kind"] == "monitor" and len(checks[0]["columns"]) == 31  # 30 features + prediction
    text = cli("monitor", "history", "--column", "mean radius", cwd=trained)
    assert text.returncode == 0 and text.stdout.count("mean radius") >= 2


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook?token=secret"
    finally:
        server.shutdown()
        server.server_close()


def test_drift_fires_alerts_and_requests_a_retrain(trained: Path, receiver: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    _Receiver.bodies.clear()
    alerts = (
        f"monitoring.alerts=[{{kind: webhook, url: '{receiver}'}}, {{kind: webhook, url: '{dead}', retries: 2, "
        f"timeout_s: 1.0}}, {{kind: file, path: {tmp_path / 'alerts.jsonl'}}}]"
    )
    result = cli("monitor", "--model", MODEL, "--current", "shifted.parquet", "--json", alerts, cwd=trained)
    assert result.returncode == 1, result.stdout + result.stderr
    check = json.loads(result.stdout)
    outcomes = check["alerts"]
    assert [(o["kind"], o["ok"]) for o in outcomes] == [("webhook", True), ("webhook", False), ("file", True)]
    assert outcomes[1]["attempts"] == 3 and "secret" not in json.dumps(outcomes)
    assert "webhook alert to http://127.0.0.1" in result.stderr and "failed after 3 attempt(s)" in result.stderr
    (body,) = _Receiver.bodies
    assert body["check_id"] == check["check_id"] and sorted(body["dataset"]["drifted_columns"]) == sorted(SHIFTED)
    assert body["text"].startswith("mlops-declare monitor: breast_cancer:1: ") and "mean radius" in body["text"]
    assert json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[-1])["check_id"] == check["check_id"]
    # The retrain request of mlops_declare/contracts/seams.py, appended to the requests file outside Airflow.
    request = check["retrain"]
    assert set(request) == {"reason", "model", "check_id", "window", "verdict", "requested_at"}
    assert (
        request["reason"] == "drift"
        and request["model"] == "breast_cancer:1"
        and request["check_id"] == check["check_id"]
    )
    assert set(request["verdict"]) == {"dataset_drift", "drift_share", "drifted_columns", "multivariate", "performance"}
    lines = (trained / ".mlops" / "triggers" / "retrain.jsonl").read_text().splitlines()
    assert json.loads(lines[-1]) == request
    # orchestration.triggers.drift is the one switch.
    off = cli(
        "monitor",
        "--model",
        MODEL,
        "--current",
        "shifted.parquet",
        "--json",
        "orchestration.triggers.drift=false",
        cwd=trained,
    )
    assert json.loads(off.stdout)["retrain"] is None
    # Right after a requested retrain, the same drift is held back by min_retrain_interval_hours, and says so.
    again = cli("monitor", "--model", MODEL, "--current", "shifted.parquet", cwd=trained)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "retrain held back: the last one for breast_cancer was requested at " in again.stdout
    assert "min_retrain_interval_hours = 24 ago; the next may go after " in again.stdout


def test_the_monitoring_steps_pass_small_results_along(trained: Path) -> None:
    from mlops_declare.config import load_config
    from tests.runner import run_step_json

    _log_held_out(trained, 11)
    loaded = load_config(trained / "conf", [f"serving.model={MODEL}"])

    def step(name: str, upstream: dict[str, Any]) -> dict[str, Any]:
        return run_step_json(name, loaded, trained, "monitoring_test", "2026-11-30", upstream)

    collected = step("collect_window", {})
    assert collected["model"] == {"name": "breast_cancer", "version": 1} and collected["window"]["rows"] == 172
    drift = step("check_drift", {"collect_window": collected})
    performance = step("check_performance", {"collect_window": collected})
    assert drift["drift_result"]["current"]["rows"] == 172 and performance["performance"] is None
    acted = step("act", {"check_drift": drift, "check_performance": performance})
    assert acted["retrain"] is None and acted["retrain_requested"] is False and isinstance(acted["check_id"], int)
    for result in (collected, drift, performance, acted):
        assert len(json.dumps(result)) < 64_000
    assert (trained / acted["reports"]["html"]).is_file()
