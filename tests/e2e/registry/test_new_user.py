"""The issue's "done when", as a new user tries it: train twice, register both, promote the better one through
its gate, watch the worse one refused with the numbers, roll back, read it all in `registry history`, then
flip one byte of a stored artefact and watch `registry verify` and loading refuse it.

Everything runs through the installed `mlops-declare` command on a project made by `mlops-declare init`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).parent / "mlops-declare")


def run(project: Path, *arguments: str, code: int = 0) -> str:
    result = subprocess.run(
        [COMMAND, *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MLOPS_DECLARE_ACTOR": "new-user"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-4000:]
    assert "Traceback" not in output
    return output


def train(project: Path, *overrides: str) -> tuple[Path, float]:
    output = run(project, "train", *overrides)
    package = Path(output.split("model package: ")[1].split()[0])
    accuracy = json.loads((package / "metrics.json").read_text())["test"]["accuracy"]
    return package, accuracy


@pytest.mark.slow
def test_train_register_gate_rollback_history_and_integrity(tmp_path: Path) -> None:
    run(tmp_path, "init", "shop", "--name", "shop")
    project = tmp_path / "shop"
    weak, weak_accuracy = train(project, "trainer.max_epochs=1", "trainer.optimizer.lr=0.00001")
    strong, strong_accuracy = train(project, "trainer.max_epochs=20")
    assert strong_accuracy > weak_accuracy

    assert "registered breast_cancer:1" in run(project, "registry", "register", str(weak))
    assert "registered breast_cancer:2" in run(project, "registry", "register", str(strong))
    lineage = json.loads(run(project, "registry", "show", "breast_cancer:2", "--json"))["lineage"]
    assert lineage["training_run_id"] == strong.parent.name and lineage["config_fingerprint"]
    assert lineage["datasets"]["test"]["fingerprint"]

    run(project, "registry", "promote", "breast_cancer:2", "--stage", "staging")
    blessed = run(project, "registry", "promote", "breast_cancer:2", "--stage", "production", "--reason", "best so far")
    assert "BLESSED breast_cancer:2 -> production" in blessed

    refused = run(project, "registry", "promote", "breast_cancer:1", "--stage", "production", code=2)
    assert "NOT_BLESSED breast_cancer:1 -> production" in refused
    assert f"vs holder version 2 {strong_accuracy:.6g}" in refused
    assert run(project, "registry", "show", "breast_cancer@production", "--json").count('"version": 2') == 1

    forced = run(
        project,
        "registry",
        "promote",
        "breast_cancer:1",
        "--stage",
        "production",
        "--force",
        "--reason",
        "A/B experiment",
    )
    assert "version 2 -> version 1 (FORCED)" in forced
    rolled = run(
        project, "registry", "rollback", "breast_cancer", "--stage", "production", "--reason", "experiment over"
    )
    assert "rolled back from version 1 to version 2" in rolled

    history = run(project, "registry", "history", "breast_cancer")
    for expected in (
        "NOT_BLESSED",
        "promoted (FORCED)",
        "A/B experiment",
        "rolled_back",
        "experiment over",
        "best so far",
        "new-user",
        f"vs holder version 2 {strong_accuracy:.6g}",
    ):
        assert expected in history, expected

    assert "verified 2 version(s): ok" in run(project, "registry", "verify")
    key = json.loads(run(project, "registry", "show", "breast_cancer@production", "--json"))["object_key"]
    weights = next((project / ".mlops" / "artifacts" / key).glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    assert f"CORRUPT breast_cancer:2: {weights.name}: sha256" in run(project, "registry", "verify", code=1)
    assert "breast_cancer:2 failed verification" in run(project, "registry", "load", "breast_cancer@production", code=2)
