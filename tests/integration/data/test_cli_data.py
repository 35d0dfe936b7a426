"""`mlops-declare data` on a copy of the example project, as a new user would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlops_declare.cli import main
from tests.conftest import edit_yaml

PATIENTS = """\
name: patients
source:
  kind: csv
  path: raw/patients.csv
columns:
  target: outcome
expectations:
  - kind: column_present
    column: age
    type: float
  - kind: range
    column: age
    min: 0.0
    max: 120.0
    policy: {policy}
split:
  kind: random
  seed: 3
"""


def _patients_csv(project: Path) -> None:
    """200 good rows, then a corrupted `age` column: text and an impossible value."""
    (project / "raw").mkdir()
    lines = ["patient_id,age,ward,outcome"] + [f"{i},{20 + i % 60},{('a', 'b')[i % 2]},{i % 2}" for i in range(200)]
    lines += ["200,forty,a,1", "201,999,b,0"]
    (project / "raw" / "patients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_example_data_step_writes_splits_report_and_profile(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["data", "--config-dir", str(project / "conf")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"\n  mean radius +DOUBLE +feature \(numeric\) +from the builtin source\n", out)
    assert "target 'target': binary, classes ['0', '1']" in out
    assert "ok   data.expectations[0] row_count [fail]: expected rows in [100, inf]; observed 569" in out
    assert "rows: 569 read, 569 after transforms, 0 quarantined, splits train 398, val 85, test 86" in out
    folders = list((project / ".mlops" / "data" / "breast_cancer").iterdir())
    assert len(folders) == 1 and len(folders[0].name) == 12
    assert {"train.parquet", "val.parquet", "test.parquet", "report.json", "profile.json"} <= {
        p.name for p in folders[0].iterdir()
    }
    assert f"written to {folders[0]}" in out


def test_same_data_lands_in_the_same_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated"]) == 0
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated"]) == 0
    fingerprints = re.findall(r"^fingerprint ([0-9a-f]{64})$", capsys.readouterr().out, re.MULTILINE)
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]
    assert [path.name for path in (project / ".mlops" / "data" / "generated").iterdir()] == [fingerprints[0][:12]]


def test_digits_override_gives_an_image_feature(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--config-dir", str(project / "conf"), "experiment=digits_cnn"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\n  image +FLOAT\[64\] +feature \(image\) +from the builtin source\n", out)
    assert "classes ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']" in out


def test_corrupted_column_is_rejected_naming_column_and_expectation(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _patients_csv(project)
    (project / "conf" / "data" / "patients.yaml").write_text(PATIENTS.format(policy="fail"), encoding="utf-8")
    code = main(["data", "--config-dir", str(project / "conf"), "data=patients"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "data.expectations[0] column_present column 'age': expected column present with type float, observed string"
        in err
    )
    assert "data.expectations[1] range column 'age': expected values in [0, 120]" in err and "'forty'" in err
    assert "Traceback" not in err
    datasets = project / ".mlops" / "data" / "patients"
    assert [path.name for path in datasets.iterdir()] == ["rejected.json"]
    report = json.loads((datasets / "rejected.json").read_text())
    assert [entry["outcome"] for entry in report["expectations"]] == ["failed", "failed"]


def test_corrupted_rows_are_quarantined_per_policy(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _patients_csv(project)
    policy_yaml = PATIENTS.format(policy="quarantine").replace("    type: float\n", "    type: string\n")
    (project / "conf" / "data" / "patients.yaml").write_text(policy_yaml, encoding="utf-8")
    code = main(["data", "--config-dir", str(project / "conf"), "data=patients", "--logical-date", "2026-11-26"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "QUAR data.expectations[1] range 'age' [quarantine]" in out
    assert "patient_id" in out and "id " in out
    (folder,) = (project / ".mlops" / "data" / "patients").iterdir()
    quarantine = pq.read_table(folder / "quarantine.parquet")
    assert quarantine.column("age").to_pylist() == ["forty", "999"]
    train = pq.read_table(folder / "train.parquet")
    assert str(train.schema.field("age").type) == "double"


def test_missing_source_file_is_a_clean_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "conf" / "data" / "patients.yaml").write_text(PATIENTS.format(policy="fail"), encoding="utf-8")
    code = main(["data", "--config-dir", str(project / "conf"), "data=patients"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: data.source.path: csv file 'raw/patients.csv': no file matches" in err
    assert not (project / ".mlops" / "data" / "patients").exists() or not any(
        (project / ".mlops" / "data" / "patients").iterdir()
    )


def test_output_dir_and_bad_logical_date(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere"
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated", "--output-dir", str(target)]) == 0
    assert (target / "train.parquet").is_file() and f"written to {target}" in capsys.readouterr().out
    assert main(["data", "--config-dir", str(project / "conf"), "--logical-date", "yesterday"]) == 2
    assert "error: logical date 'yesterday' is not YYYY-MM-DD" in capsys.readouterr().err


def test_quality_example_exercises_every_transform_and_policy(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated_quality"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"QUAR data\.expectations\[4\] range 'age' \[quarantine\]: expected values in \[18, 90\]; \d+ bad row\(s\)", out
    )
    assert "WARN data.expectations[5] range 'income' [warn]" in out
    assert re.search(r"\n  income_per_person +DOUBLE +feature \(numeric\) +inferred\n", out)
    (folder,) = (project / ".mlops" / "data" / "generated_quality").iterdir()
    train = pq.read_table(folder / "train.parquet")
    assert "household" not in train.column_names and min(train.column("age").to_pylist()) >= 18.0


def test_rerun_with_new_expectations_refreshes_the_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated"]) == 0
    edit_yaml(
        project / "conf" / "data" / "generated.yaml",
        "    policy: warn\n",
        "    policy: warn\n  - kind: unique\n    column: x1\n",
    )
    assert main(["data", "--config-dir", str(project / "conf"), "data=generated"]) == 0
    capsys.readouterr()
    (folder,) = (project / ".mlops" / "data" / "generated").iterdir()
    assert [entry["kind"] for entry in json.loads((folder / "report.json").read_text())["expectations"]][-1] == "unique"
