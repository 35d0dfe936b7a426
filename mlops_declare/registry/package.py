"""Lineage read from a model package's own files (config.json, model_spec.json), for steps and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_declare.config import fingerprint_of
from mlops_declare.contracts.layouts import EVALUATION_SPLITS, PACKAGE_CONFIG_FILE, PACKAGE_SPEC_FILE
from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.records import Lineage

CONFIG_FILE = PACKAGE_CONFIG_FILE
SPEC_FILE = PACKAGE_SPEC_FILE


def lineage_from_package(package_dir: str | Path, dataset_uri: str | None = None, **fields: Any) -> Lineage:
    """Lineage from the package's config.json and model_spec.json; keyword `fields` override what they say."""
    package = Path(package_dir)
    config = _read_json(package / CONFIG_FILE)
    spec_data = _read_json(package / SPEC_FILE)
    spec: dict[str, Any] = spec_data if isinstance(spec_data, dict) else {}
    dataset_fingerprint = spec.get("dataset_fingerprint")
    datasets: dict[str, Any] = {}
    if dataset_fingerprint:
        # Val and test come from the prepared dataset, so its fingerprint identifies the evaluation data.
        entry = {"fingerprint": dataset_fingerprint, **({"uri": dataset_uri} if dataset_uri else {})}
        datasets = {"prepared": entry, **{split: dict(entry) for split in EVALUATION_SPLITS}}
    versions_data = spec.get("versions")
    versions: dict[str, Any] = versions_data if isinstance(versions_data, dict) else {}
    values: dict[str, Any] = {
        "config": config if isinstance(config, dict) else None,
        "config_fingerprint": spec.get("config_fingerprint") or (fingerprint_of(config) if config else None),
        "datasets": datasets,
        "package_version": versions.get("mlops_declare"),
    }
    values.update({key: value for key, value in fields.items() if value is not None})
    return Lineage(**values)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{str(path)!r} is not valid JSON: {exc}") from None
