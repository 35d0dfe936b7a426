"""Schema of the `pruning` group: method, schedule, sparsity targets and epochs."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlops_declare.config.base import Fraction, NonNegativeInt, PositiveInt, StrictModel

PruningMethod = Literal["l1_unstructured", "random_unstructured", "ln_structured", "neurons"]
PruningSchedule = Literal["cubic", "linear", "exponential", "one_shot"]


def _valid_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from None
    return patterns


class NoPruning(StrictModel):
    """Train without pruning."""

    kind: Literal["none"]


class GradualPruning(StrictModel):
    """Gradual magnitude pruning (the SparseML/INC keys), made permanent before export."""

    kind: Literal["gradual"]
    method: PruningMethod = "l1_unstructured"
    """What is removed: single weights (l1/random unstructured), rows (ln_structured), or whole hidden units (neurons)."""
    scope: Literal["global", "local"] = "global"
    """Rank weights across all layers (global) or per layer (local)."""
    init_sparsity: Fraction = 0.05
    """Sparsity at `start_epoch`."""
    final_sparsity: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8
    """Sparsity reached at `end_epoch`."""
    start_epoch: NonNegativeInt = 0
    """First epoch that prunes."""
    end_epoch: NonNegativeInt = 10
    """Epoch at which `final_sparsity` is reached."""
    frequency: PositiveInt = 1
    """Prune every this many epochs."""
    schedule: PruningSchedule = "cubic"
    """Interpolation from init to final sparsity (cubic as in gradual magnitude pruning)."""
    include: list[str] = Field(default_factory=lambda: [r".*\.weight$"], min_length=1)
    r"""Regexes (re.search) of parameter names to prune, e.g. `layers\.0\.weight`; weight matrices of Linear/Conv layers qualify."""
    exclude: list[str] = Field(default_factory=list)
    r"""Regexes (re.search) of parameter names never pruned (e.g. `^output\.` for the output layer)."""
    fine_tune_epochs: NonNegativeInt = 0
    """Epochs trained after the last pruning step."""
    lottery_ticket: bool = False
    """Reset surviving weights to their initial values after pruning (off by default)."""

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return _valid_patterns(patterns)

    @model_validator(mode="after")
    def _consistent(self) -> GradualPruning:
        if self.init_sparsity > self.final_sparsity:
            raise ValueError(
                f"`init_sparsity` ({self.init_sparsity}) is greater than `final_sparsity` ({self.final_sparsity})"
            )
        if self.start_epoch > self.end_epoch:
            raise ValueError(f"`start_epoch` ({self.start_epoch}) is after `end_epoch` ({self.end_epoch})")
        if self.schedule == "one_shot" and self.start_epoch != self.end_epoch:
            raise ValueError("schedule 'one_shot' prunes once: set `start_epoch` equal to `end_epoch`")
        if self.scope == "global" and self.method in ("ln_structured", "neurons"):
            raise ValueError(f"method {self.method!r} ranks per layer: use scope 'local'")
        return self


class SemiStructuredPruning(StrictModel):
    """2:4 semi-structured sparsity: in every group of 4 consecutive weights of a Linear layer's row,
    the 2 smallest are zeroed at `prune_epoch`, then `fine_tune_epochs` recover accuracy.

    Training and the sparse package work anywhere; the inference speed-up comes from PyTorch's
    semi-structured sparse kernels, which need a CUDA GPU (compute capability 8.0 or newer).
    """

    kind: Literal["semi_structured"]
    prune_epoch: NonNegativeInt = 2
    """Epoch at whose end the 2:4 mask is applied."""
    fine_tune_epochs: NonNegativeInt = 3
    """Epochs trained after the mask is applied."""
    include: list[str] = Field(default_factory=lambda: [r".*\.weight$"], min_length=1)
    r"""Regexes (re.search) of Linear weight names to prune; layers whose input width is not a multiple of 4 stay dense."""
    exclude: list[str] = Field(default_factory=list)
    r"""Regexes (re.search) of parameter names never pruned (e.g. `^output\.`)."""

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return _valid_patterns(patterns)

    def as_schedule(self) -> GradualPruning:
        """The equivalent one-shot schedule the pruning callback runs (method `semi_structured`, 50%)."""
        return GradualPruning.model_construct(
            kind="gradual",
            method="semi_structured",  # type: ignore[arg-type]  # internal method, not a config value
            scope="local",
            init_sparsity=0.5,
            final_sparsity=0.5,
            start_epoch=self.prune_epoch,
            end_epoch=self.prune_epoch,
            frequency=1,
            schedule="one_shot",
            include=list(self.include),
            exclude=list(self.exclude),
            fine_tune_epochs=self.fine_tune_epochs,
            lottery_ticket=False,
        )


PruningConfig = Annotated[NoPruning | GradualPruning | SemiStructuredPruning, Field(discriminator="kind")]


def pruning_schedule(pruning: NoPruning | GradualPruning | SemiStructuredPruning) -> GradualPruning | None:
    """The schedule training runs for a pruning config, or None without pruning."""
    if isinstance(pruning, GradualPruning):
        return pruning
    if isinstance(pruning, SemiStructuredPruning):
        return pruning.as_schedule()
    return None
