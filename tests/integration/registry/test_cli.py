"""`mlops-declare registry ...` as a user runs it on the example project: tables, JSON, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.cli import main
from tests.unit.registry.support import drop_postgres_schema, make_package, postgres_schema_url

ENTRY_POINT = Path(sys.executable).parent / "mlops-declare"


class Cli:
    """Runs `mlops-declare registry ...` in-process against one project and captures what the user sees."""

    def __init__(self, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.project = project
        self.capsys = capsys

    def __call__(self, *arguments: str, code: int = 0) -> str:
        verb, *rest = arguments
        exit_code = main(["registry", verb, "--config-dir", str(self.project / "conf"), *rest])
        captured = self.capsys.readouterr()
        assert exit_code == code, f"exit {exit_code}\nstdout:\n{captured.out}\nstderr:\n{captured.err}"
        return captured.out + captured.err

    def json(self, *arguments: str) -> Any:
        return json.loads(self(*arguments, "--json"))


@pytest.fixture
def cli(project: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(project, capsys)


def test_register_promote_refuse_force_rollback_history(cli: Cli, project: Path) -> None:
    make_package(project / "good", accuracy=0.95)
    make_package(project / "worse", accuracy=0.91)
    assert "registered breast_cancer:1" in cli("register", str(project / "good"))
    assert "registered breast_cancer:2" in cli("register", str(project / "worse"), "--actor", "alice")
    cli("promote", "breast_cancer:1", "--stage", "staging")
    promoted = cli("promote", "breast_cancer:1", "--stage", "production", "--reason", "first release")
    assert "BLESSED breast_cancer:1 -> production" in promoted
    assert "breast_cancer@production: no holder -> version 1" in promoted
    cli("promote", "breast_cancer:2", "--stage", "staging")

    refused = cli("promote", "breast_cancer:2", "--stage", "production", code=2)
    assert "breast_cancer:2 may not enter 'production'" in refused
    assert "FAIL test.accuracy = 0.91 vs holder version 1 0.95: improvement -0.04" in refused
    assert "Traceback" not in refused
    assert "needs a reason" in cli("promote", "breast_cancer:2", "--stage", "production", "--force", code=2)
    forced = cli("promote", "breast_cancer:2", "--stage", "production", "--force", "--reason", "hotfix")
    assert "version 1 -> version 2 (FORCED)" in forced

    rolled = cli("rollback", "breast_cancer", "--stage", "production", "--reason", "hotfix broke latency")
    assert "rolled back from version 2 to version 1" in rolled
    assert cli.json("show", "breast_cancer@production")["version"] == 1

    history = cli("history", "breast_cancer")
    for expected in (
        "NOT_BLESSED",
        "promoted (FORCED)",
        "forced past: test.accuracy",
        "rolled_back",
        "hotfix broke latency",
        "first release",
        "2 -> 1",
        "vs 1",
    ):
        assert expected in history, expected
    production = cli.json("history", "breast_cancer", "--stage", "production")
    assert {event["label"] for event in production} == {"production"}
    assert [e["to_version"] for e in production if e["kind"] in ("promoted", "rolled_back")] == [1, 2, 1]
    events = cli.json("history", "breast_cancer")
    assert [event["kind"] for event in events][:2] == ["registered", "registered"]
    assert events[1]["actor"] == "alice"
    assert events[-2]["kind"] == "rolled_back" and events[-2]["reason"] == "hotfix broke latency"


def test_list_show_alias_and_json(cli: Cli, project: Path) -> None:
    make_package(project / "pkg", accuracy=0.9)
    cli("register", str(project / "pkg"), "--name", "digits", "--description", "baseline")
    cli("alias", "digits:1", "--alias", "champion")
    listing = cli("list")
    assert "MODEL" in listing and "digits" in listing and "champion=1" in listing
    versions = cli("list", "--name", "digits")
    assert "test.accuracy=0.9" in versions and "champion" in versions
    assert cli("list", "digits") == versions  # NAME positional, like the other verbs' references
    assert cli("list", "digits", "registry.auto_promote=[]") == versions  # overrides may follow it
    shown = cli("show", "digits@champion")
    assert "manifest sha256" in shown and "model.safetensors" in shown and "aliases             champion" in shown
    data = cli.json("show", "digits:1")
    assert data["ref"] == "digits:1" and data["description"] == "baseline"
    assert {entry["path"] for entry in data["files"]} >= {"model.safetensors", "metrics.json"}
    assert cli.json("list")[0]["labels"] == {"champion": [1]}


def test_flipped_byte_is_caught_by_verify_and_load(cli: Cli, project: Path) -> None:
    make_package(project / "pkg")
    cli("register", str(project / "pkg"))
    assert "verified 1 version(s): ok" in cli("verify")
    loaded = Path(cli("load", "breast_cancer:1", "--to", str(project / "out")).strip())
    assert (loaded / "model.safetensors").is_file()
    key = cli.json("show", "breast_cancer:1")["object_key"]
    stored = project / ".mlops" / "artifacts" / key / "model.safetensors"
    data = bytearray(stored.read_bytes())
    data[7] ^= 0xFF
    stored.write_bytes(bytes(data))
    report = cli("verify", code=1)
    assert "CORRUPT breast_cancer:1: model.safetensors: sha256" in report
    verdict = json.loads(cli("verify", "--json", code=1))
    assert verdict["ok"] is False and "model.safetensors" in verdict["problems"][0][1]
    refused = cli("load", "breast_cancer:1", code=2)
    assert "breast_cancer:1 failed verification" in refused and "model.safetensors" in refused


def test_gc_and_delete(cli: Cli, project: Path) -> None:
    make_package(project / "pkg")
    cli("register", str(project / "pkg"))
    cli("register", str(project / "pkg"))
    cli("delete", "breast_cancer:2", "--reason", "duplicate")
    assert "gc: removed 0 orphan(s)" in cli("gc")  # too young by default
    assert "kept 1 orphan(s)" in cli("gc")
    removed = cli.json("gc", "--min-age", "0")["removed"]
    assert len(removed) == 1 and removed[0].startswith("objects/breast_cancer/")
    assert "verified 1 version(s): ok" in cli("verify")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("show", "breast_cancer"), "names no version, stage or alias"),
        (("show", "../x:1"), "model name '../x' is not allowed"),
        (("show", "breast_cancer:1"), "no model named 'breast_cancer'"),
        (("promote", "breast_cancer:1", "--stage", "prod"), "stage 'prod' is not declared"),
        (("register", "/nonexistent/package"), "is not a directory"),
        (("history", "nobody"), "no model named 'nobody'"),
    ],
)
def test_bad_input_is_one_clear_line(cli: Cli, arguments: tuple[str, ...], message: str) -> None:
    output = cli(*arguments, code=2)
    assert message in output and "Traceback" not in output


def test_unknown_config_keys_fail_like_every_other_verb(cli: Cli) -> None:
    assert "registry.stor_url" in cli("list", "registry.stor_url=x", code=2)


@pytest.mark.postgres
def test_the_installed_command_against_postgresql(project: Path, postgres_database: str) -> None:
    schema, url = postgres_schema_url(postgres_database)
    try:
        make_package(project / "pkg", accuracy=0.97)
        base = [str(ENTRY_POINT), "registry"]
        common = ["--config-dir", str(project / "conf"), "registry=postgres", f"registry.store_url='{url}'"]

        def run(*arguments: str) -> subprocess.CompletedProcess[str]:
            verb, *rest = arguments
            return subprocess.run(
                [*base, verb, *rest, *common], capture_output=True, text=True, timeout=120, cwd=project
            )

        registered = run("register", str(project / "pkg"), "--json")
        assert registered.returncode == 0, registered.stderr
        assert json.loads(registered.stdout)["ref"] == "breast_cancer:1"
        assert run("promote", "breast_cancer:1", "--stage", "staging").returncode == 0
        listing = run("list", "--json")
        assert json.loads(listing.stdout)[0]["labels"] == {"staging": [1]}
        bad = run("show", "breast_cancer@production")
        assert bad.returncode == 2 and "no version of 'breast_cancer' holds 'production' yet" in bad.stderr
        assert "Traceback" not in bad.stderr
    finally:
        drop_postgres_schema(postgres_database, schema)


def test_overrides_may_follow_options(cli: Cli, project: Path) -> None:
    make_package(project / "pkg")
    cli("register", str(project / "pkg"))
    assert cli.json("show", "breast_cancer:1", "project.tags=[x]")["version"] == 1
    moved = cli("promote", "breast_cancer:1", "--stage", "staging", "--reason", "ok", "registry.auto_promote=[]")
    assert "no holder -> version 1" in moved
