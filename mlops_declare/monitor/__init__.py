"""Drift statistics, reference profiles, multivariate drift, performance monitoring, persisted
history, reports (JSON + self-contained HTML) and alerts.

The entry points are `check_drift` (monitor/drift.py), the pieces of a check in monitor/check.py
(measure, decide, record, report, alert, request a retrain; the `drift`/`monitor` commands and the
monitoring DAG's steps compose them) and `MonitoringStore` (monitor/store.py: the history in the
registry database).
"""
