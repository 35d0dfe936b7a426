"""Every environment variable mlops_declare reads, declared once with what it is for.

Deployment config reaches running code through these (and the files they name); no other
variable is read. `project_root_variable(project)` names the per-project variable a generated DAG
file uses to find its project in a shared Airflow `dags/` folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentVariable:
    """One variable: its name, who reads it, what it means."""

    name: str
    read_by: str
    meaning: str


PROJECT_ROOT = "MLOPS_DECLARE_PROJECT_ROOT"
"""The project folder (holding plan.json) of a service, a pod or a task; relative addresses resolve against it."""
FULL_ERROR = "MLOPS_DECLARE_FULL_ERROR"
VERBOSE = "MLOPS_DECLARE_VERBOSE"
ACTOR = "MLOPS_DECLARE_ACTOR"
SERVE_CACHE = "MLOPS_DECLARE_SERVE_CACHE"
TRAIN_RUN_ID = "MLOPS_DECLARE_TRAIN_RUN_ID"
AIRFLOW_DAG_ID = "AIRFLOW_CTX_DAG_ID"
AIRFLOW_RUN_ID = "AIRFLOW_CTX_DAG_RUN_ID"
LOCAL_RANK = "LOCAL_RANK"
NODE_RANK = "NODE_RANK"

VARIABLES: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable(
        PROJECT_ROOT,
        "service, pod entry point, Airflow tasks",
        "project folder holding plan.json; relative registry, artefact and inference-log addresses resolve against it "
        "(default: for a service, the folder above service/ when its plan.json is this project's, else the working "
        "directory; for a pod, the working directory)",
    ),
    EnvironmentVariable(
        "MLOPS_DECLARE_ROOT_<PROJECT>",
        "generated Airflow DAG files",
        "project folder of one project's DAGs in a shared dags/ folder (also read as the Airflow Variable "
        "mlops_declare_root_<project>); see project_root_variable()",
    ),
    EnvironmentVariable(FULL_ERROR, "cli", "1: print a full traceback instead of the one-line error"),
    EnvironmentVariable(VERBOSE, "cli, train", "1: keep Lightning's and BentoML's own output"),
    EnvironmentVariable(ACTOR, "registry", "who the registry's event log names as the actor (default user@host)"),
    EnvironmentVariable(
        SERVE_CACHE, "service", "where a service caches loaded packages (default ~/.cache/mlops-declare/serve)"
    ),
    EnvironmentVariable(
        TRAIN_RUN_ID, "cli train", "set by `mlops-declare train` so DDP workers (re-runs of the command) join its run"
    ),
    EnvironmentVariable(
        AIRFLOW_DAG_ID, "register step, monitor", "set by Airflow in task processes; recorded in lineage"
    ),
    EnvironmentVariable(AIRFLOW_RUN_ID, "register step", "set by Airflow in task processes; recorded in lineage"),
    EnvironmentVariable(LOCAL_RANK, "train", "set by Lightning/torchrun in DDP workers; only rank 0 writes"),
    EnvironmentVariable(NODE_RANK, "train", "set by Lightning/torchrun in DDP workers; only rank 0 writes"),
)
"""Every variable the code reads (a test greps the source for others)."""


def project_root_variable(project: str) -> str:
    """`MLOPS_DECLARE_ROOT_<PROJECT>`: where a DAG file of `project` finds its project folder (plan.json)."""
    return "MLOPS_DECLARE_ROOT_" + re.sub(r"[^A-Za-z0-9]+", "_", project).strip("_").upper()
