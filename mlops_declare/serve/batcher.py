"""Adaptive batching after the API handlers: requests queued behind a running forward pass share the next one.

BentoML's `batchable` APIs merge requests before the handler, so per-request auth, row limits,
canary routing and request ids in the inference log would be lost; this batcher runs after them.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlops_declare.errors import MlopsDeclareError
from mlops_declare.serve.loading import ServedVersion


@dataclass
class _Item:
    served: ServedVersion
    records: list[dict[str, Any]]
    future: asyncio.Future[Any]


INLINE_PASS_S = 0.002
"""Passes typically shorter than this run on the event loop instead of the inference thread (see Batcher)."""


class Batcher:
    """Adaptive batching: requests that arrive while a forward pass runs share the next one.

    At low load a request runs alone at once (the batcher never waits idle for company). Under load,
    everything queued behind the running pass (up to `max_rows` rows, of one model version) becomes
    the next batch, so batches grow with the load. When the previous batch held several requests and
    passes are slow enough for waiting to pay (a pass longer than `INLINE_PASS_S`), the next batch
    also waits up to `max_latency_s` (never longer than one typical pass) for more to join.
    Preprocessing runs on the whole batch (one Arrow conversion instead of one per request); when a
    batch fails to preprocess, its requests run one by one so only the bad request gets the error.

    Where a pass runs is measured, not configured: a pass that typically takes less than
    `INLINE_PASS_S` runs on the event loop, because handing it to the inference thread costs more
    than the pass (a thread switch, and the GIL passed back and forth with the event loop: on a
    2-core host, with a small MLP, that hand-off cut throughput at 64 concurrent requests by half).
    Longer passes run in the inference thread so the event loop keeps parsing requests meanwhile.
    """

    def __init__(
        self, executor: ThreadPoolExecutor, enabled: bool, max_rows: int, max_latency_s: float, on_batch: Any
    ) -> None:
        self.executor = executor
        self.enabled = enabled
        self.max_rows = max_rows
        self.max_latency_s = max_latency_s
        self.on_batch = on_batch
        self.pass_seconds: float | None = None
        """Moving average of recent passes' duration (None until the first pass: the warm-up's is used)."""
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    async def run(self, served: ServedVersion, records: list[dict[str, Any]]) -> Any:
        """Outputs for `records` (raises the request's own MlopsDeclareError for bad input)."""
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.on_batch(len(records))
            result = (await self._call(served, [records]))[0]
            if isinstance(result, BaseException):
                raise result
            return result
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._loop())
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Item(served, records, future))
        return await future

    def _typical(self, served: ServedVersion) -> float:
        return self.pass_seconds if self.pass_seconds is not None else served.pass_seconds

    async def _call(self, served: ServedVersion, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """`predict_batch` inline or in the inference thread (see the class docstring), timed."""
        started = time.perf_counter()
        if self._typical(served) < INLINE_PASS_S:
            results = predict_batch(served, batches)
        else:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, predict_batch, served, batches)
        elapsed = time.perf_counter() - started
        self.pass_seconds = elapsed if self.pass_seconds is None else 0.8 * self.pass_seconds + 0.2 * elapsed
        return results

    async def _loop(self) -> None:
        assert self._queue is not None
        carry: _Item | None = None
        busy = False
        while True:
            first = carry or await self._queue.get()
            typical = self._typical(first.served)
            wait = min(self.max_latency_s, typical) if busy and typical >= INLINE_PASS_S else 0.0
            items, rows, carry = await self._gather(self._queue, first, wait)
            busy = len(items) > 1
            await self._execute(items, rows)
            # An inline pass never yielded: let the requests it answered (and new ones) move first.
            await asyncio.sleep(0)

    async def _gather(
        self, queue: asyncio.Queue[_Item], first: _Item, wait: float
    ) -> tuple[list[_Item], int, _Item | None]:
        """The batch `first` opens: what is queued (or arrives within `wait` s) for the same version, up to
        `max_rows` rows; also the item that did not fit, which opens the next batch."""
        loop = asyncio.get_running_loop()
        items, rows = [first], len(first.records)
        deadline = loop.time() + wait
        while rows < self.max_rows:
            if queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = queue.get_nowait()
            if item.served is not first.served or rows + len(item.records) > self.max_rows:
                return items, rows, item
            items.append(item)
            rows += len(item.records)
        return items, rows, None

    async def _execute(self, items: list[_Item], rows: int) -> None:
        live = [item for item in items if not item.future.done()]
        if not live:
            return
        self.on_batch(rows)
        try:
            results = await self._call(live[0].served, [item.records for item in live])
        except Exception as exc:  # noqa: BLE001 - the model itself failed: every waiting request learns it
            results = [exc] * len(live)
        for item, result in zip(live, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)


def predict(served: ServedVersion, records: list[dict[str, Any]]) -> Any:
    return served.forward(served.transform(records))


def predict_batch(served: ServedVersion, batches: list[list[dict[str, Any]]]) -> list[Any]:
    """One preprocessing + forward pass for all requests; per request again only when one of them is bad."""
    if len(batches) == 1:
        try:
            return [predict(served, batches[0])]
        except MlopsDeclareError as exc:
            return [exc]
    try:
        features = served.transform([record for batch in batches for record in batch])
    except MlopsDeclareError:
        results: list[Any] = []
        for batch in batches:
            try:
                results.append(predict(served, batch))
            except MlopsDeclareError as exc:
                results.append(exc)
        return results
    outputs = served.forward(features)
    split, start = [], 0
    for batch in batches:
        split.append(outputs[start : start + len(batch)])
        start += len(batch)
    return split
