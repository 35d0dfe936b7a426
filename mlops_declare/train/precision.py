"""Precision policy: resolve `auto`, re-check the configured precision on the real device, set matmul precision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlops_declare.config.trainer import TrainerConfig, auto_precision, precision_problem
from mlops_declare.errors import TrainingError

FP16_PRECISIONS = ("16-mixed", "16-true")


@dataclass(frozen=True)
class PrecisionDecision:
    """What a run will really use, recorded in the model package."""

    requested: str
    used: str
    accelerator: str
    """'cpu' or 'gpu', after resolving `auto`."""
    device: str
    device_capability: tuple[int, int] | None
    matmul_precision: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["device_capability"] = list(self.device_capability) if self.device_capability else None
        return data


def resolve_precision(trainer: TrainerConfig) -> PrecisionDecision:
    """The precision this machine will use for `trainer`, or a TrainingError with the compiler's wording."""
    import torch

    has_cuda = torch.cuda.is_available()
    if trainer.accelerator in ("gpu", "cuda") and not has_cuda:
        raise TrainingError(
            f"trainer.accelerator: {trainer.accelerator!r} needs a CUDA GPU; this run has only CPU (use accelerator: cpu or auto)"
        )
    on_gpu = has_cuda and trainer.accelerator != "cpu"
    capability = torch.cuda.get_device_capability() if on_gpu else None
    used = auto_precision(capability, on_gpu) if trainer.precision == "auto" else trainer.precision
    problem = precision_problem(used, "gpu" if on_gpu else "cpu", capability, has_cuda)
    if problem:
        raise TrainingError(f"trainer.precision: {problem}")
    if used == "transformer-engine":
        _require_transformer_engine()
    return PrecisionDecision(
        requested=trainer.precision,
        used=used,
        accelerator="gpu" if on_gpu else "cpu",
        device=torch.cuda.get_device_name() if on_gpu else "cpu",
        device_capability=capability,
        matmul_precision=trainer.matmul_precision,
    )


def apply_matmul_precision(decision: PrecisionDecision) -> None:
    """`high`/`medium` let float32 matmuls use TF32 (or bf16) tensor cores on Ampere and newer GPUs."""
    import torch

    torch.set_float32_matmul_precision(decision.matmul_precision)


def non_finite_hint(precision: str) -> str:
    """What to try when the loss became NaN or infinite under `precision`."""
    if precision in FP16_PRECISIONS:
        return "fp16 overflow is likely: try trainer.precision=bf16-mixed or a lower trainer.optimizer.lr"
    return (
        "try a lower trainer.optimizer.lr, set trainer.gradient_clip_val (e.g. 1.0), "
        "or check the training data for NaN/inf values"
    )


def _require_transformer_engine() -> None:
    try:
        import transformer_engine  # noqa: F401
    except ImportError:
        raise TrainingError(
            "trainer.precision: 'transformer-engine' needs NVIDIA Transformer Engine; "
            "install it with `pip install transformer-engine[pytorch]`"
        ) from None
