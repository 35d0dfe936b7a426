"""The inference log writer: a bounded queue drained by one background thread into hive-partitioned Parquet.

Format and location are the contract in mlops_declare/contracts/seams.py. A request never waits for the
writer: `submit` drops the row (and counts it) when the queue is full. A part closes after
`part_max_rows` rows or `part_max_seconds`, is written to a dot-prefixed temporary name, fsynced and
renamed, so readers never see a partial file; `close` flushes what is queued.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_declare.contracts.seams import (
    INFERENCE_LOG_COLUMNS,
)

LOGGER = logging.getLogger("mlops_declare.serve")

_STOP = object()
CHUNK_ROWS = 1024
"""Rows the writer holds as Python objects before converting them to Arrow. A part can gather 50,000
rows for a minute: as dicts and lists (an 8x8 image is 64 float objects) that is some 100 MB of
objects every full garbage collection walks; as Arrow chunks it is a few buffers."""


class InferenceLogWriter:
    """Owns the writer thread; `submit` is cheap and never blocks."""

    def __init__(
        self,
        folder: Path,
        features: Sequence[tuple[str, str]],
        class_names: Sequence[str] | None,
        queue_size: int,
        part_max_rows: int,
        part_max_seconds: float,
        on_drop: Callable[[int], None] | None = None,
        start: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.features = [(name, kind) for name, kind in features if name not in INFERENCE_LOG_COLUMNS]
        self.class_names = list(class_names) if class_names is not None else None
        self.part_max_rows = part_max_rows
        self.part_max_seconds = part_max_seconds
        self.dropped = 0
        self._on_drop = on_drop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._sequence = 0
        self._schema: Any = None
        self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        """Start the writer thread (when constructed with start=False)."""
        self._thread.start()

    def submit(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Queue rows for writing and return how many were queued; rows that do not fit are dropped and counted."""
        for position, row in enumerate(rows):
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                lost = len(rows) - position
                self.dropped += lost
                if self._on_drop is not None:
                    self._on_drop(lost)
                return position
        return len(rows)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            LOGGER.warning("inference log: queue still full at shutdown; %d queued rows are lost", self._queue.qsize())
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        chunk: list[Mapping[str, Any]] = []
        parts: dict[str, list[Any]] = {}  # day -> Arrow tables of converted chunks
        rows = 0
        opened_at = 0.0
        while True:
            wait = max(0.05, self.part_max_seconds - (time.monotonic() - opened_at)) if rows else 1.0
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._convert(chunk, parts)
                self._flush(parts)
                return
            if item is not None:
                if not rows:
                    opened_at = time.monotonic()
                chunk.append(item)
                rows += 1
                if len(chunk) >= CHUNK_ROWS:
                    self._convert(chunk, parts)
                    chunk = []
            if rows and (rows >= self.part_max_rows or time.monotonic() - opened_at >= self.part_max_seconds):
                self._convert(chunk, parts)
                self._flush(parts)
                chunk, parts, rows = [], {}, 0

    def _convert(self, chunk: list[Mapping[str, Any]], parts: dict[str, list[Any]]) -> None:
        """Rows -> Arrow tables per day, appended to `parts`; rows Arrow refuses are counted as dropped."""
        import pyarrow as pa

        by_day: dict[str, list[Mapping[str, Any]]] = {}
        for row in chunk:
            by_day.setdefault(row["timestamp"].strftime("%Y-%m-%d"), []).append(row)
        for day, day_rows in by_day.items():
            try:
                parts.setdefault(day, []).append(
                    pa.Table.from_pylist([dict(row) for row in day_rows], schema=self.schema())
                )
            except Exception:  # rows that do not fit the log's schema are dropped and counted, never the service
                LOGGER.exception("inference log: could not convert %d rows for %s", len(day_rows), day)
                self._count_dropped(len(day_rows))

    def _flush(self, parts: dict[str, list[Any]]) -> None:
        import pyarrow as pa

        for day, tables in sorted(parts.items()):
            table = pa.concat_tables(tables)
            try:
                self._write_part(day, table)
            except Exception:  # a full disk must not take the service down; the rows are counted as dropped
                LOGGER.exception("inference log: could not write %d rows for %s", table.num_rows, day)
                self._count_dropped(table.num_rows)

    def _count_dropped(self, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(count)

    def _write_part(self, day: str, table: Any) -> Path:
        import pyarrow.parquet as pq

        folder = self.folder / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = f"part-{stamp}-{os.getpid()}-{self._sequence:06d}.parquet"
        temporary = folder / f".{name}.tmp"
        with open(temporary, "wb") as stream:
            pq.write_table(table, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, folder / name)
        from mlops_declare.atomic import fsync_directory

        fsync_directory(folder)
        return folder / name

    def schema(self) -> Any:
        """The Arrow schema of this writer's parts (`arrow_schema` of its features and classes)."""
        if self._schema is None:
            self._schema = arrow_schema(self.features, self.class_names)
        return self._schema


def arrow_schema(features: Sequence[tuple[str, str]], class_names: Sequence[str] | None) -> Any:
    """The schema of this writer's parts: `mlops_declare.data.log_schema.arrow_schema`, imported when first needed."""
    from mlops_declare.data.log_schema import arrow_schema as build

    return build(features, class_names)
