"""Shared fixtures: a private copy of the example project per test, and the --update-golden switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project (conf/ and schemas/) that a test may edit freely."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO_ROOT / "conf", root / "conf")
    shutil.copytree(REPO_ROOT / "schemas", root / "schemas")
    return root


def edit_yaml(path: Path, old: str, new: str) -> None:
    """Replace one exact snippet in a YAML file (fails loudly if the snippet is not there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
