"""The registry follower: keeps a replica serving what its reference names, swapping live, recording deployments.

A background thread first loads the package bundled with a bento (when there is one), then asks
the registry (opened read-only) every `serving.reload_s` which version the reference and the
rollout candidate name. A new one is loaded, verified and warmed off the request path and swapped
in with one reference assignment; one that fails verification is refused and the old one keeps
serving. Each swap, refusal and the stop are deployment records (the deployed-reference seam in
`mlops_declare.contracts.seams`), written through a short writable open, and only to a registry the
replica could open read-only: a replica that cannot reach its registry serves its bundled package
and never creates a database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlops_declare.contracts.service import ServiceSpec
from mlops_declare.errors import MlopsDeclareError
from mlops_declare.serve.deployment import Deployment, open_registry
from mlops_declare.serve.loading import ServedVersion, ServingError, load_version, settle_memory
from mlops_declare.serve.metrics import ServingMetrics

if TYPE_CHECKING:
    from mlops_declare.registry import Registry

LOGGER = logging.getLogger("mlops_declare.serve")


class Follower:
    """What a replica serves (`primary`, `candidate`), kept in step with the registry by a background thread."""

    def __init__(
        self,
        spec: ServiceSpec,
        deployment: Deployment,
        metrics: ServingMetrics,
        before_primary: Callable[[ServedVersion], None] | None = None,
    ) -> None:
        self.spec = spec
        self.deployment = deployment
        self.reference = deployment.reference
        self.metrics = metrics
        self.before_primary = before_primary
        """Called with a version about to become primary (the runtime opens its inference log there)."""
        self.primary: ServedVersion | None = None
        self.candidate: ServedVersion | None = None
        self.refused: set[tuple[str, int]] = set()
        self.error: str | None = None
        self.host = socket.gethostname()
        self.registry_reachable = False
        """Whether a read-only open ever succeeded: deployment records are written only then."""
        self._skipped_records = False
        self._stop = threading.Event()
        self._registry: Registry | None = None
        self._thread = threading.Thread(target=self._follow, name="model-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and record that this replica no longer serves its primary."""
        self._stop.set()
        if self.primary is not None:
            self.record(self.primary.ref, "stopped")
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def _follow(self) -> None:
        self.load_bundled()
        while not self._stop.is_set():
            try:
                self.poll()
                self.error = None
            except Exception as exc:  # noqa: BLE001 - the registry may be down or absent: keep serving what is loaded
                if str(exc) != self.error:  # once per distinct failure, not once per poll
                    level = logging.WARNING if self.primary is not None else logging.ERROR
                    LOGGER.log(level, "serving %s: %s", self.reference, exc)
                self.error = str(exc)
                if self._registry is not None:
                    self._registry.close()
                    self._registry = None
            ready = self.primary is not None
            self._stop.wait(self.spec.reload_s if ready else min(self.spec.reload_s, 2.0))

    def load_bundled(self) -> None:
        """Serve the package a bento was built with, before (or without) the registry."""
        bundled = self.deployment.bundled
        if bundled is None:
            return
        try:
            served = load_version(self.deployment.bundle_dir, *bundled)
        except ServingError as exc:
            self.error = str(exc)
            LOGGER.error("bundled package refused: %s", exc)
            return
        self.install("primary", served, record=False)

    def poll(self) -> None:
        """One look at the registry: follow the reference and the rollout candidate."""
        if self._registry is None:
            self._registry = open_registry(self.deployment)
            self.registry_reachable = True
        self.follow_reference("primary", self.reference)
        if self.spec.rollout.candidate is not None:
            self.follow_reference("candidate", self.spec.rollout.candidate)

    def follow_reference(self, variant: str, reference: str) -> None:
        assert self._registry is not None
        record = self._registry.resolve(reference)
        current = self.primary if variant == "primary" else self.candidate
        if current is not None and (current.name, current.version) == (record.name, record.version):
            return
        if (record.name, record.version) in self.refused:
            return
        try:
            directory = self._registry.load(record.ref)
            served = load_version(directory, record.name, record.version)
        except MlopsDeclareError as exc:
            self.refused.add((record.name, record.version))
            self.metrics.swaps.labels("refused").inc()
            serving = current.ref if current else "nothing"
            LOGGER.error("refused %s for %s: %s; still serving %s", record.ref, reference, exc, serving)
            self.record(record.ref, "refused")
            return
        self.install(variant, served, record=True)

    def install(self, variant: str, served: ServedVersion, record: bool) -> None:
        """Make `served` the primary or the candidate (one reference assignment: requests see the old or the new)."""
        previous = self.primary if variant == "primary" else self.candidate
        if variant == "primary":
            if self.before_primary is not None:
                self.before_primary(served)
            self.primary = served
        else:
            self.candidate = served
        settle_memory()
        label = "primary" if variant == "primary" else self.spec.rollout.strategy
        self.metrics.served_version.labels(served.name, label).set(served.version)
        if previous is not None:
            self.metrics.swaps.labels("swapped").inc()
        LOGGER.info(
            "serving %s as %s (was %s)", served.ref, variant, previous.ref if previous is not None else "nothing"
        )
        if record:
            self.record(served.ref, "serving")

    def record(self, ref: str, status: str) -> None:
        """A deployment record; the only write a replica makes, through a short writable open of a registry it reached."""
        if not self.registry_reachable:
            if not self._skipped_records:
                self._skipped_records = True
                LOGGER.warning(
                    "deployment records skipped: the registry could not be opened read-only (%s)", self.error
                )
            return
        try:
            with open_registry(self.deployment, read_only=False) as registry:
                registry.record_deployment(
                    ref,
                    f"service:{self.spec.name}@{self.host}",
                    status,
                    actor=f"service:{self.spec.name}",
                    details={"reference": self.reference, "pid": os.getpid()},
                )
        except Exception as exc:  # noqa: BLE001 - a read-only registry or a transient error must not stop serving
            LOGGER.warning("could not record the deployment of %s: %s", ref, exc)
