"""The runtime's adaptive batcher: where a pass runs, who shares a pass, whose error is whose; GC settling."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from mlops_declare.errors import DataError
from mlops_declare.serve.batcher import INLINE_PASS_S, Batcher
from mlops_declare.serve.loading import ServedVersion, settle_memory


class Preprocessor:
    """Records {"x": float} -> one column; a record with "x": "bad" is refused like a schema error."""

    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        if any(record["x"] == "bad" for record in records):
            raise DataError("feature 'x': 'bad' is not a number")
        return np.array([[float(record["x"])] for record in records], dtype=np.float32)


class Package:
    def __init__(self) -> None:
        self.threads: list[str] = []
        self.rows: list[int] = []

    def predict(self, features: np.ndarray) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        self.rows.append(len(features))
        return features[:, 0] * 2.0


def served(pass_seconds: float) -> ServedVersion:
    return ServedVersion(
        name="m",
        version=1,
        package=Package(),
        preprocessor=Preprocessor(),
        class_names=None,
        task="regression",
        metrics={},
        features=[],
        pass_seconds=pass_seconds,
    )


def run_requests(batcher: Batcher, version: ServedVersion, values: list[Any]) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.run(version, [{"x": value}]) for value in values), return_exceptions=True)

    return asyncio.run(main())


@pytest.mark.parametrize("enabled", [True, False])
def test_a_cheap_pass_runs_on_the_event_loop_and_a_costly_one_in_the_inference_thread(enabled: bool) -> None:
    # One pass per version, so where it runs is decided by the warm-up's figure alone (no timing involved).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference") as executor:
        cheap, costly = served(INLINE_PASS_S / 10), served(INLINE_PASS_S * 10)
        for version in (cheap, costly):
            batcher = Batcher(executor, enabled, max_rows=64, max_latency_s=0.001, on_batch=lambda rows: None)
            assert [float(output[0]) for output in run_requests(batcher, version, [1.0])] == [2.0]
    assert cheap.package.threads == [threading.current_thread().name]
    assert len(costly.package.threads) == 1 and costly.package.threads[0].startswith("inference")


def test_measured_passes_override_the_warm_up_figure() -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference") as executor:
        version = served(INLINE_PASS_S / 10)
        batcher = Batcher(executor, False, max_rows=64, max_latency_s=0.001, on_batch=lambda rows: None)
        batcher.pass_seconds = INLINE_PASS_S * 100  # recent passes were slow: the next one goes to the thread
        run_requests(batcher, version, [1.0])
    assert version.package.threads[0].startswith("inference")
    assert (
        batcher.pass_seconds is not None and batcher.pass_seconds != INLINE_PASS_S * 100
    )  # the new pass was averaged in


def test_requests_queued_behind_a_pass_share_one_and_rows_are_capped() -> None:
    sizes: list[int] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference") as executor:
        version = served(0.0)
        batcher = Batcher(executor, True, max_rows=4, max_latency_s=0.02, on_batch=sizes.append)
        outputs = run_requests(batcher, version, [float(value) for value in range(10)])
    assert [float(output[0]) for output in outputs] == [2.0 * value for value in range(10)]
    assert sizes == [4, 4, 2] and version.package.rows == [4, 4, 2]


def test_batching_off_runs_every_request_alone() -> None:
    sizes: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        batcher = Batcher(executor, False, max_rows=64, max_latency_s=0.02, on_batch=sizes.append)
        run_requests(batcher, served(0.0), [1.0, 2.0, 3.0])
    assert sizes == [1, 1, 1]


def test_a_bad_request_in_a_batch_gets_its_error_and_the_others_their_answers() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        batcher = Batcher(executor, True, max_rows=64, max_latency_s=0.02, on_batch=lambda rows: None)
        outputs = run_requests(batcher, served(0.0), [1.0, "bad", 3.0])
    assert isinstance(outputs[1], DataError) and "'bad' is not a number" in str(outputs[1])
    assert float(outputs[0][0]) == 2.0 and float(outputs[2][0]) == 6.0


def test_settling_collects_the_old_version_and_freezes_the_survivors() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    collected = []
    garbage = Cycle()
    import weakref

    reference = weakref.ref(garbage, lambda _: collected.append(True))
    del garbage
    try:
        settle_memory()
        assert collected == [True] and reference() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
