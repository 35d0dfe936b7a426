"""mlops_declare: one declarative YAML tree -> a validated, compiled, runnable ML system."""

from mlops_declare._version import __version__
from mlops_declare.compiler import Plan, compile_plan
from mlops_declare.config import LoadedConfig, ProjectConfig, load_config
from mlops_declare.errors import CompileError, ConfigError, DataError, MlopsDeclareError

__all__ = [
    "CompileError",
    "ConfigError",
    "DataError",
    "LoadedConfig",
    "MlopsDeclareError",
    "Plan",
    "ProjectConfig",
    "__version__",
    "compile_plan",
    "load_config",
]
