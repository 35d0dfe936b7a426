"""Model registry timings: register + load round trip, and promote + resolve `name@stage` in a large store.

Targets (issue 5): resolve `name@stage` stays under 5 ms median with 10,000 versions in the store
(indexed lookups). Baselines measured in the same run: a plain copy + sha256 of the package (the
floor any verified registration pays) and resolve in a store of 100 versions (an index lookup
should not grow with the store). Versions beyond the first are bulk-inserted clones of one real
registration, so seeding is fast; every lookup then runs through the public API.

Run: `python benchmarks/registry.py [--versions 10000] [--backend sqlite|postgres|both] [--package-mb 16]`;
CI runs it at smoke size and checks that it reports its figures, never whether a target was met
(timings on shared CI machines are not behaviour); `--fail-on-miss` makes a missed target exit 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from mlops_declare.config.registry import RegistryConfig
from mlops_declare.registry import Registry
from mlops_declare.registry.models import (
    ArtifactFile,
    Event,
    MetricValue,
    ModelVersionRow,
    RegisteredModel,
)

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
TARGET_RESOLVE_MS = 5.0
CONFIG = RegistryConfig.model_validate(
    {
        "stages": [
            {"name": "staging", "gate": {"thresholds": [{"metric": "accuracy", "min": 0.5}]}},
            {
                "name": "production",
                "requires": "staging",
                "gate": {"thresholds": [{"metric": "accuracy", "min": 0.6, "min_improvement": 0.0}]},
            },
        ],
        "aliases": ["champion"],
    }
)


def make_package(directory: Path, megabytes: float) -> Path:
    """A package shaped like training's: weights, spec, metrics, config, preprocessing."""
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(os.urandom(int(megabytes * 1_000_000)))
    files = {
        "model_spec.json": {"name": "bench", "architecture": {"hidden": [64, 32]}, "dataset_fingerprint": "d" * 64},
        "metrics.json": {"val": {"accuracy": 0.9, "loss": 0.2}, "test": {"accuracy": 0.9, "loss": 0.2}},
        "config.json": {"project": {"name": "bench"}},
        "preprocessing.json": {"scaler": {"mean": [0.0] * 30, "std": [1.0] * 30}},
    }
    for name, data in files.items():
        (directory / name).write_text(json.dumps(data))
    return directory


def copy_baseline(package: Path, target: Path) -> float:
    """Seconds to copy the package, fsync it and hash it: the floor of a verified registration."""
    started = time.perf_counter()
    shutil.copytree(package, target)
    for path in target.iterdir():
        with path.open("rb") as stream:
            hashlib.sha256(stream.read()).hexdigest()
            os.fsync(stream.fileno())
    return time.perf_counter() - started


def median_ms(action: Callable[[], Any], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def seed_clones(registry: Registry, name: str, total: int) -> None:
    """Bulk-insert versions 2..total cloning version 1's row, manifest, metrics and event."""
    with registry.engine.begin() as connection:
        model_id = connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == name)).scalar_one()
        source = (
            connection.execute(
                select(ModelVersionRow.__table__).where(
                    ModelVersionRow.model_id == model_id, ModelVersionRow.version == 1
                )
            )
            .one()
            ._asdict()
        )
        files = connection.execute(
            select(ArtifactFile.path, ArtifactFile.sha256, ArtifactFile.size_bytes).where(
                ArtifactFile.version_id == source["id"]
            )
        ).all()
        for start in range(2, total + 1, 1000):
            numbers = range(start, min(start + 1000, total + 1))
            ids = (
                connection.execute(
                    insert(ModelVersionRow).returning(ModelVersionRow.id, sort_by_parameter_order=True),
                    [{**{k: v for k, v in source.items() if k != "id"}, "version": n} for n in numbers],
                )
                .scalars()
                .all()
            )
            connection.execute(
                insert(ArtifactFile),
                [{"version_id": i, "path": p, "sha256": s, "size_bytes": b} for i in ids for p, s, b in files],
            )
            connection.execute(
                insert(MetricValue),
                [
                    {"version_id": i, "split": split, "name": metric, "value": 0.85 + (n % 100) / 1000}
                    for i, n in zip(ids, numbers, strict=True)
                    for split in ("val", "test")
                    for metric in ("accuracy", "loss")
                ],
            )
            connection.execute(
                insert(Event),
                [
                    {
                        "model_id": model_id,
                        "kind": "registered",
                        "version": n,
                        "to_version": n,
                        "forced": False,
                        "actor": "bench",
                        "reason": "",
                        "details": {},
                        "created_at": source["created_at"],
                    }
                    for n in numbers
                ],
            )
        connection.execute(update(RegisteredModel).where(RegisteredModel.id == model_id).values(next_version=total + 1))


def run_store(store_url: str, workdir: Path, versions: int, package_mb: float, resolves: int) -> dict[str, float]:
    package = make_package(workdir / "package", package_mb)
    results: dict[str, float] = {}
    with Registry.open(store_url, str(workdir / "artifacts"), CONFIG, cache_dir=workdir / "cache") as registry:
        results["copy_baseline_s"] = copy_baseline(package, workdir / "copy")
        started = time.perf_counter()
        registry.register("bench", package)
        results["register_s"] = time.perf_counter() - started
        started = time.perf_counter()
        registry.load("bench:1")
        results["load_s"] = time.perf_counter() - started
        results["small_resolve_ms"] = timed_resolves(registry, "small", 100, resolves)
        seed_clones(registry, "bench", versions)
        results["promote_ms"] = median_ms(lambda: promote_next(registry), 20)
        results["resolve_stage_ms"] = median_ms(lambda: registry.resolve("bench@production"), resolves)
        results["resolve_alias_ms"] = median_ms(lambda: registry.resolve("bench@champion"), resolves)
        results["resolve_number_ms"] = median_ms(lambda: registry.resolve(f"bench:{versions // 2}"), resolves)
        results["resolve_latest_ms"] = median_ms(lambda: registry.resolve("bench:latest"), resolves)
    return results


PROMOTED = {"next": 9}


def promote_next(registry: Registry) -> None:
    """Promote the next version through staging then production (two gated compare-and-set moves)."""
    PROMOTED["next"] += 1
    ref = f"bench:{PROMOTED['next'] * 3}"
    registry.promote(ref, "staging", actor="bench")
    registry.promote(ref, "production", actor="bench", force=True, reason="benchmark")
    registry.set_alias(ref, "champion", actor="bench")


def timed_resolves(registry: Registry, name: str, count: int, resolves: int) -> float:
    """Median resolve of `name@production` in a model of `count` versions (the small-store baseline)."""
    registry.register(name, registry.load("bench:1"))
    seed_clones(registry, name, count)
    registry.promote(f"{name}:{count}", "staging", actor="bench")
    registry.promote(f"{name}:{count}", "production", actor="bench", force=True, reason="benchmark")
    return median_ms(lambda: registry.resolve(f"{name}@production"), resolves)


@contextmanager
def backend_url(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'registry.db'}"
        return
    import psycopg

    database = f"registry_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def report(backend: str, versions: int, package_mb: float, results: dict[str, float]) -> bool:
    size = package_mb
    print(f"\n== {backend}: {versions} versions, package {size:g} MB ==")
    print(f"register                {results['register_s'] * 1000:8.1f} ms  ({size / results['register_s']:.0f} MB/s)")
    print(f"load (verified)         {results['load_s'] * 1000:8.1f} ms  ({size / results['load_s']:.0f} MB/s)")
    print(
        f"copy+fsync+sha256       {results['copy_baseline_s'] * 1000:8.1f} ms  baseline; register is "
        f"{results['register_s'] / results['copy_baseline_s']:.2f}x of it"
    )
    print(f"promote                 {results['promote_ms']:8.2f} ms  median (staging + production + alias)")
    for key, label in (
        ("resolve_stage_ms", "name@production"),
        ("resolve_alias_ms", "name@champion"),
        ("resolve_number_ms", "name:N"),
        ("resolve_latest_ms", "name:latest"),
    ):
        print(f"{'resolve ' + label:<24}{results[key]:8.2f} ms  median")
    ratio = results["resolve_stage_ms"] / results["small_resolve_ms"]
    print(
        f"{'resolve @100 versions':<24}{results['small_resolve_ms']:8.2f} ms  baseline; at {versions} versions: {ratio:.2f}x"
    )
    ok = results["resolve_stage_ms"] < TARGET_RESOLVE_MS
    print(f"target resolve name@stage < {TARGET_RESOLVE_MS} ms: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000, help="versions in the store (default 10000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--package-mb", type=float, default=16.0, help="size of the weights file (default 16)")
    parser.add_argument("--resolves", type=int, default=500, help="resolves per median (default 500)")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a target is missed (default: report only)"
    )
    args = parser.parse_args()
    if args.versions < 100:
        parser.error("--versions must be at least 100 (the small-store baseline)")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = True
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder, backend_url(backend, Path(folder)) as url:
            PROMOTED["next"] = 9
            results = run_store(url, Path(folder), args.versions, args.package_mb, args.resolves)
            ok = report(backend, args.versions, args.package_mb, results) and ok
    return 0 if ok or not args.fail_on_miss else 1


if __name__ == "__main__":
    sys.exit(main())
