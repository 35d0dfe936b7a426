"""Drift statistics, reference profiles, multivariate drift, performance monitoring, persisted
history, reports (JSON + self-contained HTML) and alerts.

The entry points are `check_drift` (monitor/drift.py), `run_check` (monitor/check.py: the whole
check the `monitor` command and the monitoring DAG's steps run) and `MonitoringStore`
(monitor/store.py: the history in the registry database).
"""
