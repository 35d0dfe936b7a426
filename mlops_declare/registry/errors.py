"""Errors of the model registry: every one names what was wrong and where, and loses no data."""

from __future__ import annotations

from mlops_declare.errors import MlopsDeclareError


class RegistryError(MlopsDeclareError):
    """A registry operation was refused or failed in a way the user can act on."""


class BadReference(RegistryError):
    """A model reference, name, version or artefact path is malformed or unsafe."""


class NotFoundError(RegistryError):
    """A model, version, stage holder or alias does not exist."""


class IntegrityError(RegistryError):
    """Stored artefacts differ from their sha256 manifest (corrupt, missing or unexpected files)."""


class PromotionConflict(RegistryError):
    """A stage or alias changed between reading its holder and moving it (compare-and-set lost)."""


class GateRefused(RegistryError):
    """A version did not pass the gate of the stage it was promoted to; carries the decision."""

    def __init__(self, message: str, decision: object) -> None:
        super().__init__(message)
        self.decision = decision
