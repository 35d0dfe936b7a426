"""The monitoring history in the registry database: every check is recorded (columns, verdict,
multivariate and performance figures), not only the alarms, and read back for `monitor history`
and the report's charts over past windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, desc, insert, select

from mlops_declare.registry.database import create_registry_engine, read_transaction, upgrade_to_head
from mlops_declare.registry.monitoring_tables import MonitoringCheck, MonitoringColumn, MonitoringMetric


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class MonitoringStore:
    """Records and reads monitoring checks in the registry database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, store_url: str) -> MonitoringStore:
        """Connect to the registry database and bring its schema to head (the monitoring tables included)."""
        engine = create_registry_engine(store_url)
        try:
            upgrade_to_head(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> MonitoringStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record(self, result: dict[str, Any], kind: str = "monitor") -> int:
        """Store one check (the JSON of monitor/check.py, or a bare `check_drift` result); its id."""
        drift = result.get("drift_result", result)
        model = result.get("model") or {}
        window = result.get("window") or {}
        dataset = drift.get("dataset", {})
        with self.engine.begin() as connection:
            check_id = connection.execute(
                insert(MonitoringCheck).returning(MonitoringCheck.id),
                {
                    "kind": kind,
                    "model_name": model.get("name"),
                    "model_version": model.get("version"),
                    "window_start": _time(window.get("start")),
                    "window_end": _time(window.get("end")),
                    "rows": int(drift.get("current", {}).get("rows", 0)),
                    "status": str(drift.get("status", "ok")),
                    "dataset_drift": bool(dataset.get("dataset_drift", False)),
                    "drift_share": float(dataset.get("drift_share", 0.0)),
                    "drift": bool(result.get("drift", drift.get("drift", False))),
                    "verdict": _verdict(result),
                    "created_at": datetime.now(UTC),
                },
            ).scalar_one()
            columns = [(column, "feature") for column in drift.get("columns", [])]
            if drift.get("prediction"):
                columns.append((drift["prediction"], "prediction"))
            if columns:
                connection.execute(
                    insert(MonitoringColumn),
                    [
                        {
                            "check_id": check_id,
                            "column": column["column"],
                            "role": role,
                            "method": column["method"],
                            "chosen_by": column["chosen_by"],
                            "score_kind": column["score_kind"],
                            "score": column["score"],
                            "p_value_adjusted": column.get("p_value_adjusted"),
                            "threshold": column["threshold"],
                            "drifted": bool(column["drifted"]),
                            "status": column["status"],
                        }
                        for column, role in columns
                    ],
                )
            metrics = _metrics(result)
            if metrics:
                connection.execute(insert(MonitoringMetric), [{"check_id": check_id, **metric} for metric in metrics])
        return int(check_id)

    def history(
        self, model_name: str | None = None, column: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Past checks, newest first: the verdict and, per check, every column's test (or only `column`'s)."""
        checks_table = MonitoringCheck.__table__
        query = select(checks_table).order_by(desc(checks_table.c.id)).limit(limit)
        if model_name is not None:
            query = query.where(checks_table.c.model_name == model_name)
        with read_transaction(self.engine) as connection:
            checks = [dict(row._mapping) for row in connection.execute(query)]
            ids = [check["id"] for check in checks]
            if not ids:
                return []
            columns_table = MonitoringColumn.__table__
            column_query = select(columns_table).where(columns_table.c.check_id.in_(ids)).order_by(columns_table.c.id)
            if column is not None:
                column_query = column_query.where(columns_table.c.column == column)
            by_check: dict[int, list[dict[str, Any]]] = {}
            for row in connection.execute(column_query):
                entry = dict(row._mapping)
                by_check.setdefault(entry.pop("check_id"), []).append(entry)
            metrics_table = MonitoringMetric.__table__
            metrics_by_check: dict[int, list[dict[str, Any]]] = {}
            for row in connection.execute(
                select(metrics_table).where(metrics_table.c.check_id.in_(ids)).order_by(metrics_table.c.id)
            ):
                entry = dict(row._mapping)
                metrics_by_check.setdefault(entry.pop("check_id"), []).append(entry)
        history = []
        for check in checks:
            if column is not None and check["id"] not in by_check:
                continue
            check["columns"] = [
                {key: value for key, value in entry.items() if key != "id"} for entry in by_check.get(check["id"], [])
            ]
            check["metrics"] = [
                {key: value for key, value in entry.items() if key != "id"}
                for entry in metrics_by_check.get(check["id"], [])
            ]
            for key in ("window_start", "window_end", "created_at"):
                check[key] = check[key].isoformat() if check[key] is not None else None
            history.append(check)
        return history

    def last_retrain_request(self, model_name: str) -> datetime | None:
        """When a check of this model last asked for a retrain (for the minimum interval between them)."""
        table = MonitoringCheck.__table__
        query = (
            select(table.c.verdict, table.c.created_at)
            .where(table.c.model_name == model_name)
            .order_by(desc(table.c.id))
            .limit(200)
        )
        with read_transaction(self.engine) as connection:
            for verdict, created in connection.execute(query):
                if isinstance(verdict, dict) and verdict.get("retrain_requested"):
                    when: datetime = created if created.tzinfo else created.replace(tzinfo=UTC)
                    return when
        return None


def _verdict(result: dict[str, Any]) -> dict[str, Any]:
    drift = result.get("drift_result", result)
    return {
        "status": drift.get("status"),
        "drift": bool(result.get("drift", drift.get("drift", False))),
        "dataset": drift.get("dataset", {}),
        "signals": drift.get("signals", []),
        "multivariate": drift.get("multivariate", {}),
        "performance": result.get("performance"),
        "retrain_requested": bool(result.get("retrain")),
        "window": result.get("window"),
    }


def _metrics(result: dict[str, Any]) -> list[dict[str, Any]]:
    drift = result.get("drift_result", result)
    metrics: list[dict[str, Any]] = []
    for name, test in (drift.get("multivariate") or {}).items():
        metrics.append(
            {
                "name": f"multivariate.{name}",
                "value": test.get("score"),
                "threshold": test.get("threshold"),
                "breached": bool(test.get("drifted")),
                "estimated": False,
                "details": {key: value for key, value in test.items() if key not in ("score", "threshold", "drifted")},
            }
        )
    performance = result.get("performance") or {}
    for entry in performance.get("metrics", []):
        metrics.append(
            {
                "name": f"performance.{entry['name']}",
                "value": entry.get("value"),
                "threshold": entry.get("threshold"),
                "breached": bool(entry.get("breached")),
                "estimated": bool(entry.get("estimated")),
                "details": {
                    key: value
                    for key, value in entry.items()
                    if key not in ("name", "value", "threshold", "breached", "estimated")
                },
            }
        )
    return metrics
