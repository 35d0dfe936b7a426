"""JSON Schema export of the config models, for editors and for `schemas/`."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import TypeAdapter

from mlops_declare.config.root import GROUPS, ProjectConfig

SCHEMA_DIR = "schemas"
ROOT_SCHEMA = "config.schema.json"
EXPERIMENT_SCHEMA = "experiment.schema.json"

_DEFAULTS_PROPERTY = {
    "description": "Hydra defaults list: which option of each config group to compose.",
    "type": "array",
}


def group_schema_name(group: str) -> str:
    return f"{group}.schema.json"


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _relax(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy where nothing is required, for files that override only part of the config."""
    if isinstance(schema, dict):
        return {key: _relax(value) for key, value in schema.items() if key != "required"}
    if isinstance(schema, list):
        return [_relax(value) for value in schema]
    return schema


def render_schemas() -> dict[str, str]:
    """File name -> JSON text: the root schema, one per group, and a relaxed one for experiments."""
    root = ProjectConfig.model_json_schema()
    root["properties"]["defaults"] = _DEFAULTS_PROPERTY
    root["$id"] = ROOT_SCHEMA
    files = {ROOT_SCHEMA: _dump(root)}
    experiment = _relax(root)
    experiment["$id"] = EXPERIMENT_SCHEMA
    experiment["title"] = "Experiment preset (any subset of the project config)"
    files[EXPERIMENT_SCHEMA] = _dump(experiment)
    for group in GROUPS:
        annotation = ProjectConfig.model_fields[group].annotation
        assert annotation is not None
        schema = TypeAdapter(annotation).json_schema()
        schema["$id"] = group_schema_name(group)
        schema.setdefault("title", f"{group} config group")
        schema.setdefault("description", typing.cast(str, ProjectConfig.model_fields[group].description))
        files[group_schema_name(group)] = _dump(schema)
    return files
