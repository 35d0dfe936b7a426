"""The inference log's Arrow schema, built from its one declaration (`contracts.seams.INFERENCE_LOG_SCHEMA`):
the serving writer and the monitoring readers both call `arrow_schema`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pyarrow as pa

from mlops_declare.contracts.seams import (
    FEATURE_ARROW_TYPES,
    INFERENCE_LOG_COLUMNS,
    INFERENCE_LOG_METADATA_CLASSES,
    INFERENCE_LOG_METADATA_VERSION,
    INFERENCE_LOG_SCHEMA,
    INFERENCE_LOG_VERSION,
)
from mlops_declare.errors import DataError


def arrow_type(name: str) -> pa.DataType:
    """The pyarrow type a contract names: `float64`, `string`, `bool`, `int64`, `list<T>`, `timestamp[unit, tz=Z]`."""
    if match := re.fullmatch(r"list<(.+)>", name):
        return pa.list_(arrow_type(match[1]))
    if match := re.fullmatch(r"timestamp\[(\w+)(?:, tz=([^\]]+))?\]", name):
        return pa.timestamp(match[1], tz=match[2])
    try:
        return pa.type_for_alias(name)
    except ValueError:
        raise DataError(f"the inference-log contract names an Arrow type {name!r} pyarrow does not know") from None


def arrow_schema(features: Sequence[tuple[str, str]] = (), class_names: Sequence[str] | None = None) -> pa.Schema:
    """The schema of an inference-log part: the fixed columns, then one column per (name, feature type)
    typed by `FEATURE_ARROW_TYPES`, with the format metadata (version, class names)."""
    fields = [pa.field(name, arrow_type(type_name)) for name, type_name in INFERENCE_LOG_SCHEMA]
    fields += [
        pa.field(name, arrow_type(FEATURE_ARROW_TYPES[kind]))
        for name, kind in features
        if name not in INFERENCE_LOG_COLUMNS
    ]
    metadata = {
        INFERENCE_LOG_METADATA_VERSION: INFERENCE_LOG_VERSION,
        INFERENCE_LOG_METADATA_CLASSES: json.dumps(list(class_names) if class_names is not None else None),
    }
    return pa.schema(fields, metadata=metadata)
