"""The data steps of a run: `ingest` prepares the dataset into the run directory, `validate_data`
surfaces its validation report and checks the written files still match their fingerprint."""

from __future__ import annotations

import shutil

from mlops_declare.atomic import write_json_atomic
from mlops_declare.contracts.layouts import RUN_DATASET_FOLDER
from mlops_declare.contracts.results import DatasetResult, SnapshotResult, ValidationResult
from mlops_declare.data import DataValidationError, PreparedDataset, prepare_dataset
from mlops_declare.errors import DataError
from mlops_declare.steps import StepContext

REJECTED_REPORT = "data_rejected.json"


def ingest(context: StepContext, run_plan: SnapshotResult) -> DatasetResult:
    """Prepare the dataset of the run's logical date into `<run_dir>/data`; a rerun replaces it atomically."""
    output = context.run_dir / RUN_DATASET_FOLDER
    rejected = context.run_dir / REJECTED_REPORT
    try:
        prepared = prepare_dataset(
            context.loaded.config.data, output, logical_date=run_plan.logical_date, project_root=context.project_root
        )
    except DataValidationError as exc:
        # The run stops here; the report stays next to it so the user can see every expectation.
        write_json_atomic(rejected, exc.report)
        if output.exists():
            shutil.rmtree(output)
        raise DataValidationError(exc.report, exc.summary, f"full report: {context.relative(rejected)}") from exc
    rejected.unlink(missing_ok=True)
    metadata = prepared.metadata()
    return DatasetResult(
        dataset_dir=context.relative(prepared.directory),
        fingerprint=prepared.fingerprint,
        features=tuple(prepared.feature_names),
        target=prepared.target,
        task_hint=metadata["task_hint"],
        rows=dict(metadata["rows"]),
    )


def validate_data(context: StepContext, dataset: DatasetResult) -> ValidationResult:
    """The validation outcome of the ingested dataset; fails if any `fail` expectation did not hold."""
    directory = context.resolve(dataset.dataset_dir)
    if not directory.exists():
        raise DataError(f"no ingested dataset at {context.relative(directory)}; run the `ingest` step first")
    prepared = PreparedDataset.load(directory)
    prepared.verify()
    report = prepared.report()
    failed = [entry for entry in report["expectations"] if entry["outcome"] == "failed"]
    if failed:
        raise DataValidationError(report, "")
    outcomes: dict[str, int] = {}
    for entry in report["expectations"]:
        outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    return ValidationResult(
        fingerprint=prepared.fingerprint,
        outcome=report["outcome"],
        expectations=outcomes,
        warnings=tuple(
            f"{entry['config_path']} {entry['kind']}"
            for entry in report["expectations"]
            if entry["outcome"] == "warned"
        ),
        quarantined_rows=int(report["rows"]["quarantined"]),
        report_path=context.relative(prepared.report_path),
        dataset_dir=context.relative(prepared.directory),
    )
