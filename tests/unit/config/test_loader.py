"""The Hydra -> pydantic bridge: every conf/ combination loads; every mistake is located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_declare.config import load_config
from mlops_declare.config.loader import group_options
from mlops_declare.errors import ConfigError
from tests.conftest import REPO_ROOT, edit_yaml

CONF = REPO_ROOT / "conf"
GROUP_FILES = sorted(
    (path.parent.name, path.stem) for path in CONF.glob("*/*.yaml") if path.parent.name != "experiment"
)


@pytest.mark.parametrize(("group", "option"), GROUP_FILES, ids=[f"{g}={o}" for g, o in GROUP_FILES])
def test_every_group_option_composes_and_validates(group: str, option: str) -> None:
    overrides = [f"{group}={option}"]
    # The CNN needs image data and the digits images need a CNN-sized task; pair them.
    if (group, option) == ("model", "cnn"):
        overrides.append("data=digits")
    if (group, option) == ("data", "digits"):
        overrides.append("model=cnn")
    if (group, option) == ("trainer", "gpu"):
        overrides.append("trainer.precision=bf16-mixed")
    loaded = load_config(CONF, overrides)
    assert loaded.choices[group] == option


@pytest.mark.parametrize("experiment", sorted(path.stem for path in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment: str) -> None:
    loaded = load_config(CONF, [f"experiment={experiment}"])
    assert loaded.choices["experiment"] == experiment


def test_experiment_overrides_group_choices() -> None:
    loaded = load_config(CONF, ["experiment=digits_cnn"])
    assert loaded.choices["data"] == "digits"
    assert loaded.config.model.kind == "cnn"
    assert loaded.config.trainer.max_epochs == 25


def test_command_line_wins_over_experiment() -> None:
    loaded = load_config(CONF, ["experiment=digits_cnn", "trainer.max_epochs=2"])
    assert loaded.config.trainer.max_epochs == 2


def test_same_config_same_fingerprint_and_override_changes_it() -> None:
    first = load_config(CONF)
    second = load_config(CONF)
    changed = load_config(CONF, ["trainer.max_epochs=3"])
    assert first.fingerprint == second.fingerprint
    assert changed.fingerprint != first.fingerprint


def test_group_options_lists_yaml_files() -> None:
    assert group_options(CONF, "trainer") == ["cpu", "ddp_cpu", "gpu"]


def test_missing_config_dir_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config.yaml: not found; run `mlops-declare init DIR`"):
        load_config(tmp_path / "nowhere")


def test_all_errors_reported_at_once(project: Path) -> None:
    edit_yaml(project / "conf/trainer/cpu.yaml", "max_epochs: 20", "max_epochs: -1")
    edit_yaml(project / "conf/model/mlp.yaml", "dropout: 0.1", "dropout: 1.5")
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf", ["serving.port=0"])
    paths = sorted(issue.path for issue in error.value.issues)
    assert paths == ["model.dropout", "serving.port", "trainer.max_epochs"]


def test_error_list_is_capped(project: Path) -> None:
    overrides = [f"+trainer.unknown_{index}=1" for index in range(25)]
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf", overrides)
    assert len(error.value.issues) == 25
    assert str(error.value).endswith("... and 5 more")


def test_missing_value_is_located(project: Path) -> None:
    edit_yaml(project / "conf/trainer/cpu.yaml", "max_epochs: 20", "max_epochs: ???")
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf")
    assert str(error.value) == (
        "conf/trainer/cpu.yaml: trainer.max_epochs: missing value ('???'); set it in the file or on the command line"
    )


def test_missing_value_can_be_set_on_the_command_line(project: Path) -> None:
    edit_yaml(project / "conf/trainer/cpu.yaml", "max_epochs: 20", "max_epochs: ???")
    assert load_config(project / "conf", ["trainer.max_epochs=4"]).config.trainer.max_epochs == 4


def test_unset_environment_variable_is_located(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TEST_UNSET", raising=False)
    edit_yaml(project / "conf/config.yaml", "name: example", "name: ${oc.env:MLOPS_TEST_UNSET}")
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf")
    message = str(error.value)
    assert message.startswith("conf/config.yaml: project.name: cannot resolve interpolation:")
    assert "MLOPS_TEST_UNSET" in message


def test_duplicate_yaml_key_is_an_error(project: Path) -> None:
    path = project / "conf/trainer/cpu.yaml"
    path.write_text(path.read_text() + "max_epochs: 3\n")
    line = len(path.read_text().splitlines())
    with pytest.raises(ConfigError) as error:
        load_config(project / "conf")
    assert str(error.value) == (
        f"conf/trainer/cpu.yaml: trainer.max_epochs: duplicate key (line {line}); each key may appear once per mapping"
    )


def test_nested_duplicate_key_names_its_path(project: Path) -> None:
    edit_yaml(project / "conf/trainer/cpu.yaml", "  lr: 1.0e-3\n", "  lr: 1.0e-3\n  lr: 2.0e-3\n")
    with pytest.raises(ConfigError, match=r"conf/trainer/cpu.yaml: trainer.optimizer.lr: duplicate key \(line \d+\)"):
        load_config(project / "conf")


def test_invalid_yaml_syntax_names_file_and_line(project: Path) -> None:
    edit_yaml(project / "conf/model/mlp.yaml", "hidden: [64, 32]", "hidden: [64, 32")
    with pytest.raises(ConfigError, match=r"^conf/model/mlp.yaml: line \d+: invalid YAML"):
        load_config(project / "conf")
