"""Content hash of tables: the same values in the same order give the same digest, whichever
library version or file layout produced them (Parquet bytes are not used)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def content_hash(tables: Mapping[str, pa.Table]) -> str:
    """sha256 over every table's name, schema, validity and values."""
    digest = hashlib.sha256()
    for name, table in tables.items():
        digest.update(f"table {name} rows {table.num_rows}\n".encode())
        for column_name in table.column_names:
            column = table.column(column_name)
            digest.update(f"column {column_name} {type_label(column.type)}\n".encode())
            _update_with_column(digest, column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
    return digest.hexdigest()


def type_label(kind: pa.DataType) -> str:
    """The type without list item field names: Parquet renames `item` to `element` on a round trip."""
    if pa.types.is_fixed_size_list(kind):
        return f"fixed_size_list<{type_label(kind.value_type)}>[{kind.list_size}]"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"list<{type_label(kind.value_type)}>"
    return str(kind)


def dataset_fingerprint(content: str, state: Mapping[str, Any]) -> str:
    """The dataset's identity: its content plus the fitted preprocessing that turns it into tensors."""
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{content}\n{canonical}".encode()).hexdigest()


def _update_with_column(digest: Any, array: pa.Array) -> None:
    if array.null_count:
        digest.update(np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        encoded = pc.dictionary_encode(array)
        digest.update(json.dumps(encoded.dictionary.to_pylist(), default=repr).encode())
        digest.update(_fixed_width_bytes(encoded.indices))
    elif pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if not pa.types.is_fixed_size_list(kind):
            digest.update(_fixed_width_bytes(pc.list_value_length(array)))
        digest.update(_fixed_width_bytes(array.flatten()))
    elif pa.types.is_primitive(kind) or pa.types.is_temporal(kind):
        digest.update(_fixed_width_bytes(array))
    else:
        digest.update(json.dumps(array.to_pylist(), default=repr, sort_keys=True).encode())


def _fixed_width_bytes(array: pa.Array) -> memoryview:
    """The values' bytes; a view of Arrow's buffer where it can be (no copy of a large column)."""
    if pa.types.is_temporal(array.type):
        array = array.view(pa.int64() if array.type.bit_width == 64 else pa.int32())
    if array.null_count:
        array = pc.fill_null(array, False if pa.types.is_boolean(array.type) else 0)
    return np.ascontiguousarray(array.to_numpy(zero_copy_only=False)).data.cast("B")
