"""Many processes at once against one registry: registrations never collide, promotions never lose an update.

Workers are forked processes with their own database connections, as separate pipeline tasks
would be; each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.config.registry import RegistryConfig
from mlops_declare.registry import PromotionConflict
from tests.unit.registry.support import Backend, make_package

PROCESSES = 32
REGISTRATIONS = 10
FORK = multiprocessing.get_context("fork")

OPEN_GATE = RegistryConfig.model_validate(
    {"stages": [{"name": "production", "gate": {"thresholds": [{"metric": "accuracy", "min": 0.1}]}}]}
)
"""A gate every test version passes, so only the compare-and-set decides who wins."""


def _register_many(backend: Backend, package: Path, barrier: Any, results: Any) -> None:
    try:
        registry = backend.open()
        barrier.wait(timeout=120)
        versions = [registry.register("digits", package).version for _ in range(REGISTRATIONS)]
        registry.close()
        results.put(("ok", versions))
    except BaseException:  # the parent asserts on this report
        results.put(("error", traceback.format_exc()))


def _run_workers(target: Any, arguments: list[tuple[Any, ...]], results: Any, timeout: float = 240) -> list[Any]:
    workers = [FORK.Process(target=target, args=args) for args in arguments]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=timeout) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return reports


@pytest.mark.slow
def test_32_processes_registering_10_versions_each_get_320_distinct_versions(backend: Backend, tmp_path: Path) -> None:
    backend.open().close()  # migrate once; workers then race only on registration
    package = make_package(tmp_path / "package", weights=b"\x00" * 50_000)
    barrier = FORK.Barrier(PROCESSES)
    results = FORK.Queue()
    reports = _run_workers(_register_many, [(backend, package, barrier, results)] * PROCESSES, results)
    errors = [detail for status, detail in reports if status == "error"]
    assert errors == []
    versions = [version for _, numbers in reports for version in numbers]
    assert sorted(versions) == list(range(1, PROCESSES * REGISTRATIONS + 1))
    for _, numbers in reports:
        assert numbers == sorted(numbers)  # each process sees its own versions increase
    with backend.open() as registry:
        assert [v.version for v in registry.list_versions("digits")] == sorted(versions)
        assert [e.kind for e in registry.history("digits")].count("registered") == PROCESSES * REGISTRATIONS
        report = registry.verify()
        assert report.ok and report.checked == PROCESSES * REGISTRATIONS and report.orphans == ()


def _promote_once(backend: Backend, ref: str, expected: int | None, barrier: Any, results: Any) -> None:
    try:
        registry = backend.open(OPEN_GATE)
        barrier.wait(timeout=60)
        try:
            registry.promote(ref, "production", actor=ref, expected_holder=expected)
            results.put(("won", ref))
        except PromotionConflict as exc:
            results.put(("conflict", str(exc)))
        registry.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_two_concurrent_promoters_exactly_one_wins(backend: Backend, packages: Any) -> None:
    with backend.open(OPEN_GATE) as registry:
        refs = [registry.register("digits", packages(0.9)).ref for _ in range(12)]
    holder: int | None = None
    results = FORK.Queue()
    for first, second in zip(refs[0::2], refs[1::2], strict=True):
        barrier = FORK.Barrier(2)
        reports = _run_workers(
            _promote_once, [(backend, ref, holder, barrier, results) for ref in (first, second)], results, timeout=120
        )
        outcomes = sorted(status for status, _ in reports)
        assert outcomes == ["conflict", "won"], reports
        winner = next(detail for status, detail in reports if status == "won")
        loser_message = next(detail for status, detail in reports if status == "conflict")
        winner_version = int(winner.split(":")[1])
        assert f"it is now held by version {winner_version} (set by {winner}" in loser_message
        with backend.open(OPEN_GATE) as registry:
            assert registry.resolve("digits@production").version == winner_version
        holder = winner_version
    with backend.open(OPEN_GATE) as registry:
        moves = [e for e in registry.history("digits") if e.kind == "promoted"]
        assert len(moves) == len(refs) // 2
        for before, after in itertools.pairwise(moves):
            assert after.from_version == before.to_version  # an unbroken chain of holders


def _promote_freely(backend: Backend, ref: str, barrier: Any, results: Any) -> None:
    try:
        registry = backend.open(OPEN_GATE)
        barrier.wait(timeout=60)
        outcome = []
        for _ in range(3):
            try:
                registry.promote(ref, "production", actor=ref)
                outcome.append("won")
            except PromotionConflict:
                outcome.append("conflict")
        registry.close()
        results.put(("ok", outcome))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_many_promoters_without_coordination_leave_one_consistent_history(backend: Backend, packages: Any) -> None:
    with backend.open(OPEN_GATE) as registry:
        refs = [registry.register("digits", packages(0.9)).ref for _ in range(8)]
    barrier = FORK.Barrier(len(refs))
    results = FORK.Queue()
    reports = _run_workers(_promote_freely, [(backend, ref, barrier, results) for ref in refs], results)
    assert [status for status, _ in reports] == ["ok"] * len(refs), reports
    with backend.open(OPEN_GATE) as registry:
        assert len(registry.labels("digits")["production"]) == 1
        moves = [e for e in registry.history("digits") if e.kind in ("promoted",)]
        assert moves[0].from_version is None
        for before, after in itertools.pairwise(moves):
            assert after.from_version == before.to_version
        assert moves[-1].to_version == registry.resolve("digits@production").version


def _open_fresh(backend: Backend, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        with backend.open() as registry:
            results.put(("ok", len(registry.list_models())))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_many_processes_opening_an_empty_database_migrate_it_once(backend: Backend) -> None:
    barrier = FORK.Barrier(8)
    results = FORK.Queue()
    reports = _run_workers(_open_fresh, [(backend, barrier, results)] * 8, results, timeout=120)
    # The whole traceback of any failed opener (pytest would cut the list comparison short).
    assert reports == [("ok", 0)] * 8, "\n".join(str(detail) for status, detail in reports if status != "ok")
