"""Performance monitoring: delayed labels (a file or SQL table keyed by request id) joined with
the window's logged predictions, metrics computed with torchmetrics against the thresholds of
`monitoring.performance`; before labels arrive, accuracy estimated from the model's confidences
(as NannyML's CBPE: the expected accuracy of a calibrated classifier is its mean top-class
probability; no calibration step is done here, so the estimate is only as good as the model's
calibration).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlops_declare.config.monitoring import FileLabels, Performance, SqlLabels
from mlops_declare.monitor.errors import MonitoringError

HIGHER_IS_BETTER = {
    "accuracy": True,
    "f1": True,
    "auroc": True,
    "precision": True,
    "recall": True,
    "r2": True,
    "mse": False,
    "mae": False,
}


def load_labels(labels: FileLabels | SqlLabels, project_root: Path) -> pa.Table:
    """`request_id` and `label` (strings) from the configured file or SQL table."""
    if isinstance(labels, FileLabels):
        from mlops_declare.monitor.reference import read_table

        path = Path(labels.path)
        path = path if path.is_absolute() else project_root / path
        if not path.is_file():
            return pa.table({"request_id": pa.array([], pa.string()), "label": pa.array([], pa.string())})
        table = read_table(path)
        where = f"monitoring.performance.labels.path ({path})"
    else:
        import sqlalchemy

        engine = sqlalchemy.create_engine(labels.url)
        try:
            with engine.connect() as connection:
                table_ref = sqlalchemy.table(
                    labels.table, sqlalchemy.column(labels.id_column), sqlalchemy.column(labels.label_column)
                )
                rows = connection.execute(
                    sqlalchemy.select(table_ref.c[labels.id_column], table_ref.c[labels.label_column])
                ).all()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise MonitoringError(
                f"monitoring.performance.labels: cannot read table {labels.table!r}: {str(exc).splitlines()[0]}"
            ) from None
        finally:
            engine.dispose()
        table = pa.table({labels.id_column: [row[0] for row in rows], labels.label_column: [row[1] for row in rows]})
        where = f"monitoring.performance.labels.table ({labels.table})"
    for name in (labels.id_column, labels.label_column):
        if name not in table.column_names:
            raise MonitoringError(f"{where}: no column {name!r}; columns: {', '.join(table.column_names)}")
    return pa.table(
        {"request_id": _strings(table.column(labels.id_column)), "label": _strings(table.column(labels.label_column))}
    )


def _strings(column: pa.ChunkedArray) -> pa.Array:
    values = column.to_pylist()
    return pa.array([None if value is None else _label_text(value) for value in values], pa.string())


def _label_text(value: Any) -> str:
    # A label file written by pandas may hold 1.0 where the model's class is "1".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def confidence_estimate(window: pa.Table) -> float | None:
    """Expected accuracy from the logged top-class probabilities (None without probabilities)."""
    if "probabilities" in window.column_names:
        rows = [row for row in window.column("probabilities").to_pylist() if row]
        if rows:
            return float(np.mean([max(row) for row in rows]))
    if "prediction_value" in window.column_names and "prediction" in window.column_names:
        values = np.asarray(
            window.column("prediction_value").cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        values = values[np.isfinite(values)]
        if values.size:
            return float(np.mean(values))
    return None


def check_performance(
    window: pa.Table, labels: pa.Table | None, class_names: list[str] | None, config: Performance
) -> dict[str, Any]:
    """Measured metrics on the labelled rows of the window, and the confidence-based estimate."""
    classification = bool(class_names) or (
        "prediction" in window.column_names and window.column("prediction").null_count < window.num_rows
    )
    metrics: list[dict[str, Any]] = []
    result: dict[str, Any] = {"window_rows": window.num_rows, "labelled_rows": 0, "metrics": metrics}
    if classification and config.estimate:
        estimate = confidence_estimate(window)
        if estimate is not None:
            metrics.append(
                _judged("accuracy", estimate, config, estimated=True, rows=window.num_rows, metric="accuracy")
            )
    if labels is None or labels.num_rows == 0 or "request_id" not in window.column_names:
        result["message"] = "no labels for this window yet"
        return result
    import duckdb

    connection = duckdb.connect()
    try:
        connection.register("window_rows", window)
        connection.register("labels", labels)
        joined = connection.sql(
            "SELECT w.*, l.label FROM window_rows w JOIN (SELECT request_id, any_value(label) AS label FROM labels "
            "WHERE label IS NOT NULL GROUP BY request_id) l USING (request_id)"
        ).to_arrow_table()
    finally:
        connection.close()
    result["labelled_rows"] = joined.num_rows
    if joined.num_rows == 0:
        result["message"] = "labels arrived, but none for this window's requests yet"
        return result
    measured = (
        _classification_metrics(joined, class_names, config.metric)
        if classification
        else _regression_metrics(joined, config.metric)
    )
    for name, value in measured.items():
        metrics.append(_judged(name, value, config, estimated=False, rows=joined.num_rows, metric=config.metric))
    return result


def _judged(name: str, value: float, config: Performance, estimated: bool, rows: int, metric: str) -> dict[str, Any]:
    threshold = None
    breached = False
    if name == metric:
        if config.min is not None:
            threshold, breached = config.min, value < config.min
        elif config.max is not None:
            threshold, breached = config.max, value > config.max
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "breached": bool(breached),
        "estimated": estimated,
        "rows": rows,
    }


def _classification_metrics(joined: pa.Table, class_names: list[str] | None, metric: str) -> dict[str, float]:
    import torch
    from torchmetrics.functional import classification as tc

    predictions = [str(value) for value in joined.column("prediction").to_pylist()]
    labels = joined.column("label").to_pylist()
    names = list(class_names or sorted(set(predictions) | {str(label) for label in labels}))
    index = {name: position for position, name in enumerate(names)}
    keep = [i for i, label in enumerate(labels) if label in index and predictions[i] in index]
    if not keep:
        raise MonitoringError(
            f"no label matches the model's classes {names[:10]}; check monitoring.performance.labels.label_column"
        )
    predicted = torch.tensor([index[predictions[i]] for i in keep])
    target = torch.tensor([index[str(labels[i])] for i in keep])
    classes = max(len(names), 2)
    values: dict[str, float] = {}
    if classes == 2:
        values["accuracy"] = float(tc.binary_accuracy(predicted, target))
        if metric == "f1":
            values["f1"] = float(tc.binary_f1_score(predicted, target))
        elif metric == "precision":
            values["precision"] = float(tc.binary_precision(predicted, target))
        elif metric == "recall":
            values["recall"] = float(tc.binary_recall(predicted, target))
    else:
        values["accuracy"] = float(tc.multiclass_accuracy(predicted, target, num_classes=classes, average="micro"))
        if metric == "f1":
            values["f1"] = float(tc.multiclass_f1_score(predicted, target, num_classes=classes, average="macro"))
        elif metric == "precision":
            values["precision"] = float(
                tc.multiclass_precision(predicted, target, num_classes=classes, average="macro")
            )
        elif metric == "recall":
            values["recall"] = float(tc.multiclass_recall(predicted, target, num_classes=classes, average="macro"))
    if metric == "auroc" and "probabilities" in joined.column_names:
        rows = joined.column("probabilities").to_pylist()
        probabilities = torch.tensor([rows[i] for i in keep], dtype=torch.float32)
        if classes == 2:
            values["auroc"] = float(tc.binary_auroc(probabilities[:, 1], target))
        else:
            values["auroc"] = float(tc.multiclass_auroc(probabilities, target, num_classes=classes))
    return {name: value for name, value in values.items() if math.isfinite(value)}


def _regression_metrics(joined: pa.Table, metric: str) -> dict[str, float]:
    import torch
    from torchmetrics.functional import mean_absolute_error, mean_squared_error, r2_score

    predicted = np.asarray(
        joined.column("prediction_value").cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    try:
        target = np.array([float(value) for value in joined.column("label").to_pylist()], dtype=np.float64)
    except ValueError:
        raise MonitoringError(
            "regression labels must be numbers; check monitoring.performance.labels.label_column"
        ) from None
    keep = np.isfinite(predicted) & np.isfinite(target)
    p, t = torch.from_numpy(predicted[keep]), torch.from_numpy(target[keep])
    values = {"mse": float(mean_squared_error(p, t)), "mae": float(mean_absolute_error(p, t))}
    if keep.sum() >= 2:
        values["r2"] = float(r2_score(p, t))
    return {name: value for name, value in values.items() if math.isfinite(value)}
