"""The public API is small and explicit; changing it is a deliberate act."""

import mlops_declare


def test_public_names_are_locked() -> None:
    assert sorted(mlops_declare.__all__) == [
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
    for name in mlops_declare.__all__:
        assert hasattr(mlops_declare, name)
