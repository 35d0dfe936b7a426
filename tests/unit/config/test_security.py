"""No YAML value can run code, and secrets from the environment never reach artefacts or output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_declare.config import load_config
from mlops_declare.errors import ConfigError
from tests.conftest import edit_yaml

PAYLOADS = ["os.system", "builtins.exec", "subprocess.Popen", "builtins.eval", "importlib.import_module"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_target_hooks_are_rejected_everywhere(project: Path, tmp_path: Path, payload: str) -> None:
    canary = tmp_path / "pwned"
    hook = f"_target_: {payload}\n_args_: ['touch {canary}']\n"
    (project / "conf/trainer/cpu.yaml").write_text(hook + (project / "conf/trainer/cpu.yaml").read_text())
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf")
    assert "trainer._target_: unknown key '_target_'" in str(error.value)
    assert "trainer._args_: unknown key '_args_'" in str(error.value)
    assert not canary.exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_callback_hook_resolves_only_against_the_allow_list(project: Path, payload: str) -> None:
    with pytest.raises(ConfigError, match=f"'{payload}' is not allowed; allowed: 'learning_rate_monitor'"):
        load_config(project / "conf", [f"trainer.callbacks=[{{name: {payload}}}]"])


def test_allowed_callback_is_accepted(project: Path) -> None:
    loaded = load_config(project / "conf", ["trainer.callbacks=[{name: learning_rate_monitor}]"])
    assert loaded.config.trainer.callbacks[0].name == "learning_rate_monitor"


def test_python_yaml_tags_do_not_execute(project: Path, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    edit_yaml(
        project / "conf/model/mlp.yaml", "dropout: 0.1", f"dropout: !!python/object/apply:os.system ['touch {canary}']"
    )
    with pytest.raises(ConfigError, match=r"^conf/model/mlp.yaml: line \d+: invalid YAML"):
        load_config(project / "conf")
    assert not canary.exists()


def test_hydra_instantiate_is_never_used() -> None:
    package = Path(__file__).resolve().parents[3] / "mlops_declare"
    sources = "\n".join(path.read_text() for path in package.rglob("*.py"))
    assert "instantiate(" not in sources
    assert "yaml.load(" not in sources and "unsafe_load" not in sources


CANARY = "canary-3f9d1c7e-s3cr3t"


def _secret_store(project: Path) -> None:
    edit_yaml(
        project / "conf/registry/local.yaml",
        "store_url: sqlite:///${project.home}/registry.db",
        "store_url: postgresql+psycopg://mlops:${oc.env:MLOPS_TEST_CANARY}@127.0.0.1:5432/test",
    )


def _secret_webhook(project: Path) -> None:
    edit_yaml(
        project / "conf/monitoring/default.yaml",
        "  - kind: log\n",
        "  - kind: webhook\n    url: https://hooks.example.invalid/${oc.env:MLOPS_TEST_CANARY}\n  - kind: log\n",
    )


def test_secret_is_kept_as_a_reference_in_the_snapshot(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_CANARY", CANARY)
    _secret_store(project)
    _secret_webhook(project)
    loaded = load_config(project / "conf")
    assert CANARY in loaded.config.registry.store_url
    assert CANARY not in repr(loaded)
    assert (
        loaded.snapshot["registry"]["store_url"]
        == "postgresql+psycopg://mlops:${oc.env:MLOPS_TEST_CANARY}@127.0.0.1:5432/test"
    )
    assert CANARY not in str(loaded.snapshot)


def _run_verbs(project: Path, verbs: list[list[str]]) -> list[str]:
    environment = {**os.environ, "MLOPS_TEST_CANARY": CANARY}
    outputs = []
    for verb in verbs:
        result = subprocess.run(
            [sys.executable, "-m", "mlops_declare", *verb], cwd=project, env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{verb}: {result.stderr[-3000:]}"
        outputs.append(result.stdout + result.stderr)
    return outputs


def _files_leaking(project: Path) -> list[Path]:
    written = [path for path in project.rglob("*") if path.is_file() and "conf" not in path.parts]
    assert any(path.name == "plan.json" for path in written)
    assert any(path.suffix == ".py" and path.parent.name == "dags" for path in written)
    return [path for path in written if CANARY.encode() in path.read_bytes()]


def test_secret_store_url_never_appears_in_generated_files_or_output(project: Path) -> None:
    _secret_store(project)
    outputs = _run_verbs(project, [["validate", "--print"], ["compile"], ["plan"], ["plan", "--json"]])
    assert all(CANARY not in output for output in outputs)
    assert _files_leaking(project) == []
    assert "${oc.env:MLOPS_TEST_CANARY}" in (project / "plan.json").read_text()


def test_secret_never_appears_in_a_whole_run(project: Path) -> None:
    _secret_webhook(project)
    outputs = _run_verbs(
        project,
        [["compile"], ["run", "--logical-date", "2026-11-26", "trainer.max_epochs=2", "trainer.early_stopping=null"]],
    )
    assert all(CANARY not in output for output in outputs)
    assert any(path.name == "config.json" for path in (project / ".mlops").rglob("*"))
    assert _files_leaking(project) == []


def test_secret_in_an_invalid_value_is_not_echoed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_CANARY", f"{CANARY} not a valid name")
    edit_yaml(project / "conf/config.yaml", "name: example", "name: ${oc.env:MLOPS_TEST_CANARY}")
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf")
    assert CANARY not in str(error.value)
    assert "${oc.env:MLOPS_TEST_CANARY}" in str(error.value)
