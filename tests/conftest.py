"""Shared fixtures: a private copy of the example project per test, and the --update-golden switch."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Where CI gets what a test needs: `.ci/run` starts the services and installs the tools, the `dev` extra the packages.
CI_RUN_STARTS = "`.ci/run` starts it"
CI_RUN_INSTALLS = "`.ci/run` installs it"
DEV_EXTRA_INSTALLS = "the `dev` extra installs it: pip install -e '.[dev]'"


def ci_dependency_missing(what: str, provided_by: str) -> NoReturn:
    """Fail, never skip, a test whose service, tool or package CI provides: a skip would let a broken `.ci/run`
    (or dev install) pass as "skipped". `provided_by` says what provides it, e.g. CI_RUN_STARTS."""
    pytest.fail(f"{what}; {provided_by}. This test fails rather than skips without it.", pytrace=False)


def require_ci_module(module: str, what: str, provided_by: str = DEV_EXTRA_INSTALLS) -> ModuleType:
    """Import `module`, or fail the test (see ci_dependency_missing): the fail-instead-of-skip importorskip."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = f"{what} is not installed ({exc})"
    ci_dependency_missing(missing, provided_by)  # outside the except: no "during handling" chain in the report


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
