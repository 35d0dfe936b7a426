"""Config schemas (one module per conf group), the Hydra->pydantic loader and JSON Schema export."""

from mlops_declare.config.loader import LoadedConfig, fingerprint_of, load_config, load_snapshot
from mlops_declare.config.root import GROUPS, ProjectConfig

__all__ = ["GROUPS", "LoadedConfig", "ProjectConfig", "fingerprint_of", "load_config", "load_snapshot"]
