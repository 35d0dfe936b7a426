"""Schema of the `registry` group: store URLs, stages with promotion gates, aliases."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_declare.config.base import Name, StrictModel
from mlops_declare.config.model import HIGHER_IS_BETTER, MetricName

RESERVED_LABELS = ("latest",)
"""Selectors the registry resolves itself (`digits:latest`); no stage or alias may take these names."""


class Threshold(StrictModel):
    """One metric condition of a gate (TFX MetricThreshold / MLflow MetricThreshold)."""

    metric: MetricName
    """A metric the trainer computes (e.g. accuracy, f1, mse)."""
    split: Literal["val", "test"] = "test"
    """Which evaluation split the metric is read from."""
    direction: Literal["higher_is_better", "lower_is_better"] | None = None
    """Inferred from the metric when omitted."""
    min: float | None = None
    """Absolute lower bound."""
    max: float | None = None
    """Absolute upper bound."""
    min_improvement: Annotated[float, Field(ge=0.0)] | None = None
    """Required improvement over the current holder of the stage, in `improvement` units."""
    improvement: Literal["absolute", "relative"] = "absolute"
    """Whether `min_improvement` is a difference or a fraction of the holder's value."""

    @model_validator(mode="after")
    def _has_condition(self) -> Threshold:
        if self.min is None and self.max is None and self.min_improvement is None:
            raise ValueError("a threshold needs `min`, `max` or `min_improvement`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value is an improvement (declared, else inferred from the metric name)."""
        if self.direction is not None:
            return self.direction == "higher_is_better"
        return HIGHER_IS_BETTER[self.metric]


class Gate(StrictModel):
    """Conditions a version must meet to enter a stage."""

    thresholds: list[Threshold] = Field(default_factory=list)
    """All must hold."""
    first_model: Literal["bless", "block"] = "bless"
    """When the stage has no holder yet: bless on absolute bounds alone, or block."""


class Stage(StrictModel):
    """A named stage; versions enter it only through its gate."""

    name: Name
    """Stage name, e.g. staging or production."""
    single_holder: bool = True
    """At most one version holds it; promoting archives the previous holder."""
    gated: bool = True
    """Whether entering requires the gate; an ungated stage is an explicit choice."""
    gate: Gate = Field(default_factory=Gate)
    """The promotion gate."""
    requires: Name | None = None
    """A stage the version must already hold (e.g. production requires staging)."""

    @model_validator(mode="after")
    def _gate_has_thresholds(self) -> Stage:
        if self.requires == self.name:
            raise ValueError(f"stage {self.name!r} requires itself")
        if self.gated and not self.gate.thresholds:
            raise ValueError(
                f"stage {self.name!r} is gated but its gate has no thresholds; add gate.thresholds or set gated: false"
            )
        return self


class RegistryConfig(StrictModel):
    """Where versions, stages and artefacts are stored, and how versions move between stages."""

    store_url: str = Field(default="sqlite:///.mlops/registry.db", min_length=1)
    """SQLAlchemy URL of the registry database; `postgresql+psycopg://...` for a shared one."""
    artifact_url: str = Field(default=".mlops/artifacts", min_length=1)
    """Local directory or fsspec URL of the artefact store."""
    stages: list[Stage] = Field(default_factory=list)
    """Stages in promotion order."""
    aliases: list[Name] = Field(default_factory=list)
    """Free aliases such as champion and challenger."""
    auto_promote: list[Name] = Field(default_factory=list)
    """Stages the pipeline tries to promote each new version into, in order, through their gates."""

    @model_validator(mode="after")
    def _consistent(self) -> RegistryConfig:
        names = [stage.name for stage in self.stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"stages declared twice: {', '.join(duplicates)}")
        for stage in self.stages:
            if stage.requires is not None and stage.requires not in names:
                raise ValueError(
                    f"stage {stage.name!r} requires unknown stage {stage.requires!r}; stages: {', '.join(names)}"
                )
        clashes = sorted(set(names) & set(self.aliases))
        if clashes:
            raise ValueError(f"names used both as stage and alias: {', '.join(clashes)}")
        reserved = sorted(set(RESERVED_LABELS) & (set(names) | set(self.aliases)))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} is reserved (`NAME:latest` selects the newest version)")
        repeated = sorted({alias for alias in self.aliases if self.aliases.count(alias) > 1})
        if repeated:
            raise ValueError(f"aliases declared twice: {', '.join(repeated)}")
        cycle = _requires_cycle(self.stages)
        if cycle:
            raise ValueError(f"stages require each other in a cycle: {' -> '.join(cycle)}")
        unknown = [name for name in self.auto_promote if name not in names]
        if unknown:
            raise ValueError(f"auto_promote names unknown stages: {', '.join(unknown)}; stages: {', '.join(names)}")
        return self


def _requires_cycle(stages: list[Stage]) -> list[str]:
    """The first `requires` cycle among the stages, as a path that ends where it starts; empty if none."""
    requires = {stage.name: stage.requires for stage in stages}
    for start in requires:
        path = [start]
        current = requires[start]
        while current is not None and current in requires:
            path.append(current)
            if current == start:
                return path
            if len(path) > len(requires):
                break
            current = requires[current]
    return []
