"""What is committed (schemas/, dags/, plan.json, service/) is what the committed conf/ compiles to."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_declare.cli import main
from tests.conftest import REPO_ROOT


def test_committed_generated_files_are_fresh(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    code = main(["compile", "--check"])
    assert code == 0, capsys.readouterr().err


def test_committed_schemas_are_fresh(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert main(["schema", "--check"]) == 0, capsys.readouterr().err


def test_every_conf_yaml_names_its_schema() -> None:
    for path in sorted((REPO_ROOT / "conf").rglob("*.yaml")):
        header = [line for line in path.read_text().splitlines()[:3] if "yaml-language-server" in line]
        assert header, f"{path} lacks a '# yaml-language-server: $schema=' line"
        target = header[0].split("$schema=", 1)[1].strip()
        assert (path.parent / target).resolve().is_file(), f"{path}: schema {target} does not exist"
        group = path.parent.name
        expected = "config" if path.parent.name == "conf" else group
        assert Path(target).name == f"{expected}.schema.json"


def test_schemas_carry_field_documentation() -> None:
    text = (REPO_ROOT / "schemas" / "trainer.schema.json").read_text()
    assert "Lightning precision string, or auto." in text
    assert '"16-mixed"' in text
