"""Every README example a user can paste is executed: the tour, and the quoted error output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def cli(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_declare", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )


def quoted_sessions() -> list[tuple[str, str]]:
    """(`$ mlops-declare ...` command, the line printed under it) pairs from the README."""
    return re.findall(r"^\$ mlops-declare (.+)\n(.+)$", README, flags=re.MULTILINE)


def tour_commands() -> list[str]:
    block = README.split("## A 5-minute tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip().startswith("mlops-declare")]


def test_readme_has_examples() -> None:
    assert len(quoted_sessions()) >= 2
    assert len(tour_commands()) >= 8


@pytest.mark.parametrize(("command", "printed"), quoted_sessions())
def test_quoted_output_is_what_the_command_prints(command: str, printed: str, project: Path) -> None:
    result = cli(shlex.split(command), project)
    assert result.returncode == 2
    assert result.stderr.strip() == printed


def test_quoted_misspelt_key_line(project: Path) -> None:
    path = project / "conf/trainer/cpu.yaml"
    path.write_text(path.read_text().replace("precision: 32-true", "precison: 32-true"))
    line = re.search(r"`(conf/trainer/cpu.yaml: trainer.precison: [^`]+)`", README)
    assert line is not None
    assert cli(["validate"], project).stderr.strip() == line.group(1)


@pytest.mark.slow
def test_the_tour_runs_in_a_new_project(tmp_path: Path) -> None:
    folder = tmp_path
    for command in tour_commands():
        if command.startswith("mlops-declare init"):
            name = shlex.split(command)[2]
            assert cli(["init", name], folder).returncode == 0
            folder = folder / name
            continue
        arguments = shlex.split(command)[1:]
        if arguments[0] == "run":
            arguments += ["trainer.max_epochs=2", "trainer.early_stopping=null"]
        result = cli(arguments, folder)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
