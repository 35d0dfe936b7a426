"""The root schema: project-level keys plus one field per config group."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mlops_declare.config.base import Name, StrictModel
from mlops_declare.config.data import DataConfig
from mlops_declare.config.model import ModelConfig
from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.config.orchestration import OrchestrationConfig
from mlops_declare.config.pruning import PruningConfig
from mlops_declare.config.registry import RegistryConfig
from mlops_declare.config.serving import ServingConfig
from mlops_declare.config.trainer import TrainerConfig

GROUPS = (
    "data",
    "model",
    "trainer",
    "pruning",
    "registry",
    "serving",
    "monitoring",
    "orchestration",
)
"""Config groups with a schema; `experiment` is a preset that overrides them."""


class ProjectSettings(StrictModel):
    """Project-level keys from conf/config.yaml."""

    name: Name
    """Project name; prefixes DAG ids, bento tags and run directories."""
    home: str = Field(default=".mlops", min_length=1)
    """Directory for runs, the default registry database and artefacts (relative to the project)."""
    tags: list[str] = Field(default_factory=list)
    """Free-form tags recorded with every run."""

    def home_path(self, project_root: str | Path) -> Path:
        """`home` as an absolute path: relative homes are under the project root (the folder holding conf/)."""
        home = Path(self.home)
        return home if home.is_absolute() else Path(project_root).resolve() / home


class ProjectConfig(StrictModel):
    """The whole system in one validated object."""

    project: ProjectSettings
    """Project-level settings."""
    data: DataConfig
    """Data sources, transforms, expectations and splits."""
    model: ModelConfig
    """Architecture and task."""
    trainer: TrainerConfig
    """Lightning Trainer settings."""
    pruning: PruningConfig
    """Pruning schedule."""
    registry: RegistryConfig
    """Model registry and promotion gates."""
    serving: ServingConfig
    """BentoML service."""
    monitoring: MonitoringConfig
    """Drift and performance monitoring."""
    orchestration: OrchestrationConfig
    """Generated Airflow DAGs."""
