"""The `trainer` group: Lightning precision strings, devices, strategies and the precision check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.trainer import TrainerConfig, precision_problem

LIGHTNING_PRECISIONS = [
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
    "auto",
]


@pytest.mark.parametrize("precision", LIGHTNING_PRECISIONS)
def test_lightning_precision_strings_accepted(precision: str) -> None:
    assert TrainerConfig(precision=precision).precision == precision  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["16", "bf16", "fp32", 32])
def test_legacy_aliases_rejected(precision: object) -> None:
    with pytest.raises(ValidationError):
        TrainerConfig(precision=precision)  # type: ignore[arg-type]


def test_fsdp_needs_gpus() -> None:
    with pytest.raises(ValidationError, match="strategy 'fsdp' needs GPUs"):
        TrainerConfig(accelerator="cpu", strategy="fsdp")


@pytest.mark.parametrize(
    ("precision", "accelerator", "capability", "has_cuda", "expected"),
    [
        ("16-mixed", "cpu", None, False, "'16-mixed' needs a CUDA GPU"),
        ("bf16-mixed", "cpu", None, False, None),
        ("64-true", "cpu", None, False, None),
        ("transformer-engine", "cpu", None, False, "needs an NVIDIA Hopper GPU"),
        ("transformer-engine", "gpu", None, False, None),
        ("transformer-engine", "gpu", (8, 0), True, "this GPU has 8.0"),
        ("transformer-engine", "gpu", (9, 0), True, None),
        ("bf16-mixed", "gpu", (7, 5), True, "needs an Ampere or newer GPU"),
        ("16-mixed", "gpu", (7, 5), True, None),
    ],
)
def test_precision_problem(
    precision: str, accelerator: str, capability: tuple[int, int] | None, has_cuda: bool, expected: str | None
) -> None:
    problem = precision_problem(precision, accelerator, capability, has_cuda)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
