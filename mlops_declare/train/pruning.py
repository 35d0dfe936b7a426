"""Pruning schedules from config, applied by a Lightning callback through `torch.nn.utils.prune`.

Sparsity follows the configured schedule between `start_epoch` and `end_epoch`; `finalize` reaches
the final sparsity if training stopped early, makes the masks permanent, and for `neurons`
physically removes pruned hidden units of an MLP so the exported model is smaller and faster.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn.utils import prune

from mlops_declare.config.pruning import GradualPruning
from mlops_declare.errors import TrainingError
from mlops_declare.train.networks import MlpNetwork, build_network


def target_sparsity(pruning: GradualPruning, epoch: int) -> float:
    """Sparsity the schedule asks for after `epoch` (0 before `start_epoch`, final after `end_epoch`)."""
    if epoch < pruning.start_epoch:
        return 0.0
    if epoch >= pruning.end_epoch or pruning.schedule == "one_shot":
        return pruning.final_sparsity
    progress = (epoch - pruning.start_epoch) / (pruning.end_epoch - pruning.start_epoch)
    initial, final = float(pruning.init_sparsity), float(pruning.final_sparsity)
    if pruning.schedule == "cubic":
        # Gradual magnitude pruning (Zhu & Gupta): fast at first, slowing down near the target.
        return final + (initial - final) * (1.0 - progress) ** 3
    if pruning.schedule == "linear":
        return initial + (final - initial) * progress
    # exponential: the surviving share shrinks by a constant factor each epoch.
    return float(1.0 - (1.0 - initial) * ((1.0 - final) / (1.0 - initial)) ** progress)


def pruning_epochs(pruning: GradualPruning) -> list[int]:
    """Epochs (0-based) at whose end a pruning step runs: every `frequency` epochs, and always `end_epoch`."""
    epochs = list(range(pruning.start_epoch, pruning.end_epoch, pruning.frequency))
    return [*epochs, pruning.end_epoch]


@dataclass(frozen=True)
class Target:
    """One prunable tensor: `module.name`, known to the user as `parameter` (e.g. `layers.0.weight`)."""

    parameter: str
    module: nn.Module
    name: str


def prunable_targets(network: nn.Module, pruning: GradualPruning) -> list[Target]:
    """Weight matrices of Linear/Conv layers (and attention projections) chosen by include/exclude.

    For `neurons` only the hidden Linear layers of an MLP qualify; structured methods never prune
    the output layer's rows.
    """
    method: str = pruning.method  # includes the internal `semi_structured` (SemiStructuredPruning.as_schedule)
    if method == "neurons":
        if not isinstance(network, MlpNetwork):
            raise TrainingError(
                f"pruning.method 'neurons' removes hidden units of an MLP; this model is a "
                f"{type(network).__name__} (use method l1_unstructured or ln_structured)"
            )
        candidates = [Target(f"layers.{index}.weight", layer, "weight") for index, layer in enumerate(network.layers)]
    elif method == "semi_structured":
        # PyTorch's 2:4 kernels accelerate Linear layers whose input width is a multiple of 4;
        # other layers, convolutions and attention projections stay dense (the report lists them at 0%).
        candidates = [
            target
            for target in _weight_matrices(network)
            if isinstance(target.module, nn.Linear) and target.module.in_features % 4 == 0
        ]
    else:
        candidates = list(_weight_matrices(network))
        if pruning.method == "ln_structured":
            # A row of the output layer is a class (or the regression value): removing it is never wanted.
            candidates = [target for target in candidates if target.parameter != "output.weight"]
    chosen = [
        target
        for target in candidates
        if any(re.search(pattern, target.parameter) for pattern in pruning.include)
        and not any(re.search(pattern, target.parameter) for pattern in pruning.exclude)
    ]
    if not chosen:
        names = ", ".join(target.parameter for target in candidates)
        raise TrainingError(
            f"pruning.include/pruning.exclude select no parameter; prunable parameters of this model: {names}"
        )
    return chosen


def _weight_matrices(network: nn.Module) -> list[Target]:
    targets = []
    for module_name, module in network.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            targets.append(Target(f"{prefix}weight", module, "weight"))
        elif isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
            targets.append(Target(f"{prefix}in_proj_weight", module, "in_proj_weight"))
    return targets


def current_mask(target: Target) -> torch.Tensor:
    """The keep-mask of a target (all ones before its first pruning step)."""
    mask = getattr(target.module, f"{target.name}_mask", None)
    if isinstance(mask, torch.Tensor):
        return mask
    return torch.ones_like(_tensor(target.module, target.name), dtype=torch.bool)


def _tensor(module: nn.Module, name: str) -> torch.Tensor:
    """A module's tensor attribute (parameter, buffer or pruned weight), typed."""
    value = getattr(module, name)
    if not isinstance(value, torch.Tensor):
        raise TrainingError(f"{type(module).__name__}.{name} is not a tensor")
    return value


def pruned_rows(target: Target) -> torch.Tensor:
    """Boolean per output unit/channel: True where the whole row is masked out."""
    mask = current_mask(target)
    return mask.reshape(mask.shape[0], -1).sum(dim=1) == 0


def _prune_count(sparsity: float, total: int, already: int) -> int:
    """How many more entries to prune to reach `sparsity` of `total`, keeping at least one."""
    wanted = min(round(sparsity * total), total - 1)
    return max(0, wanted - already)


class PruningCallback(L.Callback):
    """Applies the schedule at the end of each pruning epoch; remembers the dense weights for the report."""

    def __init__(
        self, pruning: GradualPruning, seed: int, monitor: str = "val/loss", higher_is_better: bool = False
    ) -> None:
        super().__init__()
        self.pruning = pruning
        self.seed = seed
        self.schedule = set(pruning_epochs(pruning))
        self.dense_state: dict[str, torch.Tensor] | None = None
        self.initial_state: dict[str, torch.Tensor] = {}
        self.steps: list[dict[str, Any]] = []
        self.reached = 0.0
        self.monitor = monitor
        self.higher_is_better = higher_is_better
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: int | None = None
        self.best_score: float | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Only fine-tuning epochs compete: their weights already have the final sparsity.
        if trainer.sanity_checking or trainer.current_epoch <= self.pruning.end_epoch:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None or not torch.isfinite(score):
            return
        value = float(score)
        better = self.best_score is None or (
            value > self.best_score if self.higher_is_better else value < self.best_score
        )
        if better:
            network = _network_of(pl_module)
            self.best_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
            self.best_epoch, self.best_score = trainer.current_epoch, value

    def restore_best(self, network: nn.Module) -> int | None:
        """Load the best fine-tuning epoch's weights (masks included); its epoch, or None if there was none."""
        if self.best_state is None:
            return None
        network.load_state_dict(self.best_state)
        return self.best_epoch

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        network = _network_of(pl_module)
        targets = prunable_targets(network, self.pruning)
        if self.pruning.lottery_ticket:
            self.initial_state = {target.parameter: _original(target).detach().clone() for target in targets}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch not in self.schedule or trainer.sanity_checking:
            return
        self.prune_to(_network_of(pl_module), target_sparsity(self.pruning, epoch), epoch)
        pl_module.log("pruning/sparsity", self.reached, on_epoch=True)

    def prune_to(self, network: nn.Module, sparsity: float, epoch: int) -> None:
        """One pruning step to `sparsity` (of weights, or of units/rows for structured methods)."""
        if self.dense_state is None:
            self.dense_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
        targets = prunable_targets(network, self.pruning)
        with torch.random.fork_rng(devices=[]):
            # Every DDP rank draws the same random mask.
            torch.manual_seed(self.seed + epoch)
            self._apply(targets, sparsity)
        if self.pruning.lottery_ticket and self.initial_state:
            for target in targets:
                _original(target).data.copy_(self.initial_state[target.parameter])
                _refresh_masked_weight(target)
        self.reached = measured_sparsity(targets, self.pruning.method)
        self.steps.append({"epoch": epoch, "target": round(sparsity, 6), "reached": round(self.reached, 6)})

    def _apply(self, targets: list[Target], sparsity: float) -> None:
        method: str = self.pruning.method
        if method == "semi_structured":
            for target in targets:
                prune.custom_from_mask(target.module, target.name, mask=two_of_four_mask(target))  # type: ignore[no-untyped-call]
            return
        if method in ("l1_unstructured", "random_unstructured") and self.pruning.scope == "global":
            total = sum(current_mask(target).numel() for target in targets)
            already = sum(int((~current_mask(target).bool()).sum()) for target in targets)
            count = _prune_count(sparsity, total, already)
            if count:
                pruning_method = prune.L1Unstructured if method == "l1_unstructured" else prune.RandomUnstructured
                prune.global_unstructured(
                    [(target.module, target.name) for target in targets], pruning_method=pruning_method, amount=count
                )
            return
        for target in targets:
            if method in ("l1_unstructured", "random_unstructured"):
                mask = current_mask(target)
                count = _prune_count(sparsity, mask.numel(), int((~mask.bool()).sum()))
                if count:
                    function = prune.l1_unstructured if method == "l1_unstructured" else prune.random_unstructured
                    function(target.module, target.name, amount=count)  # type: ignore[no-untyped-call]
                continue
            rows = pruned_rows(target)
            count = _prune_count(sparsity, len(rows), int(rows.sum()))
            if count:
                prune.ln_structured(target.module, target.name, amount=count, n=2, dim=0)  # type: ignore[no-untyped-call]
            if method == "neurons" and getattr(target.module, "bias", None) is not None:
                _mask_bias_like_rows(target)

    def finalize(
        self, network: nn.Module, architecture: dict[str, Any], epoch: int
    ) -> tuple[nn.Module, dict[str, Any]]:
        """Reach the final sparsity if the run stopped early, make pruning permanent, shrink MLPs for `neurons`."""
        if not any(step["target"] >= self.pruning.final_sparsity - 1e-9 for step in self.steps):
            self.prune_to(network, self.pruning.final_sparsity, epoch)
            self.steps[-1]["note"] = "final sparsity applied after training (the run ended before end_epoch)"
        keep = {target.parameter: ~pruned_rows(target) for target in prunable_targets(network, self.pruning)}
        make_permanent(network)
        if self.pruning.method != "neurons":
            return network, architecture
        assert isinstance(network, MlpNetwork)  # prunable_targets refused every other network for `neurons`
        return remove_hidden_units(network, architecture, keep)

    def dense_network(self, architecture: dict[str, Any]) -> nn.Module | None:
        """The network as it was right before the first pruning step (None if it never pruned)."""
        if self.dense_state is None:
            return None
        network = build_network(architecture)
        network.load_state_dict({name: tensor.float() for name, tensor in self.dense_state.items()})
        return network


def _network_of(pl_module: L.LightningModule) -> nn.Module:
    network = getattr(pl_module, "network", None)
    if not isinstance(network, nn.Module):
        raise TrainingError(f"{type(pl_module).__name__} has no `network` to prune")
    return network


def _original(target: Target) -> torch.Tensor:
    original = getattr(target.module, f"{target.name}_orig", None)
    return original if isinstance(original, torch.Tensor) else _tensor(target.module, target.name)


def two_of_four_mask(target: Target) -> torch.Tensor:
    """Keep the 2 largest-magnitude weights of every 4 consecutive inputs of each output row (2:4)."""
    weight = _original(target).detach()
    if weight.dim() != 2 or weight.shape[1] % 4:
        raise TrainingError(
            f"pruning.kind semi_structured: {target.parameter} has shape {tuple(weight.shape)}; 2:4 sparsity needs a "
            f"Linear weight whose input width is a multiple of 4 (exclude it with pruning.exclude)"
        )
    groups = weight.abs().reshape(weight.shape[0], -1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(-1, groups.topk(2, dim=-1).indices, True)
    return keep.reshape(weight.shape).to(weight.dtype)


def _refresh_masked_weight(target: Target) -> None:
    """Recompute `weight = weight_orig * weight_mask` now instead of at the next forward pass.

    Without this the reset is invisible until the next forward (the cause of "lottery-ticket reset
    did not happen", Lightning-AI/pytorch-lightning#13643).
    """
    for hook in target.module._forward_pre_hooks.values():
        if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == target.name:
            setattr(target.module, target.name, hook.apply_mask(target.module))  # type: ignore[no-untyped-call]


def _mask_bias_like_rows(target: Target) -> None:
    """A removed unit loses its bias too, so it outputs a constant that export can fold away."""
    keep_rows = (~pruned_rows(target)).to(_tensor(target.module, "bias").dtype)
    bias_mask = getattr(target.module, "bias_mask", None)
    if isinstance(bias_mask, torch.Tensor) and torch.equal(bias_mask, keep_rows):
        return
    prune.custom_from_mask(target.module, "bias", mask=keep_rows)  # type: ignore[no-untyped-call]


def measured_sparsity(targets: list[Target], method: str) -> float:
    """Share of pruned weights (unstructured) or of pruned rows/units (structured) over the targets."""
    if method in ("l1_unstructured", "random_unstructured", "semi_structured"):
        total = sum(current_mask(target).numel() for target in targets)
        return sum(int((current_mask(target) == 0).sum()) for target in targets) / total
    rows = [pruned_rows(target) for target in targets]
    return float(sum(int(row.sum()) for row in rows) / sum(len(row) for row in rows))


def make_permanent(network: nn.Module) -> None:
    """Fold every pruning mask into its weight and drop the reparametrisation hooks."""
    for module in network.modules():
        for name in [hook_name for hook_name in list(module._parameters) if hook_name.endswith("_orig")]:
            prune.remove(module, name[: -len("_orig")])  # type: ignore[no-untyped-call]


def remove_hidden_units(
    network: MlpNetwork, architecture: dict[str, Any], keep: dict[str, torch.Tensor]
) -> tuple[MlpNetwork, dict[str, Any]]:
    """A smaller MLP without the pruned hidden units, computing the same outputs in eval mode.

    A removed unit still emits a constant (its batch-norm shift through the activation); that
    constant times the unit's outgoing weights is folded into the next layer's bias.
    """
    network = network.float().eval()
    layers = [layer for layer in network.layers if isinstance(layer, nn.Linear)]
    kept = [
        keep.get(f"layers.{index}.weight", torch.ones(layer.out_features, dtype=torch.bool)).nonzero().squeeze(1)
        for index, layer in enumerate(layers)
    ]
    with torch.no_grad():
        constants = [_removed_unit_outputs(network, index, indices) for index, indices in enumerate(kept)]
    new_architecture = copy.deepcopy(architecture)
    new_architecture["hidden"] = [len(indices) for indices in kept]
    smaller = build_network(new_architecture)
    state = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    for index, indices in enumerate(kept):
        layer = f"layers.{index}"
        following = f"layers.{index + 1}" if index + 1 < len(network.layers) else "output"
        state[f"{following}.bias"] = state[f"{following}.bias"] + state[f"{following}.weight"] @ constants[index]
        state[f"{layer}.weight"] = state[f"{layer}.weight"][indices]
        state[f"{layer}.bias"] = state[f"{layer}.bias"][indices]
        for key in ("weight", "bias", "running_mean", "running_var"):
            if f"norms.{index}.{key}" in state:
                state[f"norms.{index}.{key}"] = state[f"norms.{index}.{key}"][indices]
        state[f"{following}.weight"] = state[f"{following}.weight"][:, indices]
    smaller.load_state_dict(state)
    assert isinstance(smaller, MlpNetwork)
    return smaller.eval(), new_architecture


def _removed_unit_outputs(network: MlpNetwork, index: int, kept: torch.Tensor) -> torch.Tensor:
    """Per unit of hidden layer `index`: the constant a removed unit emits (weights and bias zero), 0 for kept units."""
    layer = network.layers[index]
    assert isinstance(layer, nn.Linear)
    size = layer.out_features
    removed = torch.ones(size, dtype=torch.bool)
    removed[kept] = False
    output: torch.Tensor = network.activation(network.norms[index](torch.zeros(1, size))).squeeze(0)
    return torch.where(removed, output, torch.zeros_like(output))


SEMI_STRUCTURED_NEEDS = (
    "PyTorch's semi-structured (2:4) sparse kernels need a CUDA GPU with compute capability 8.0 or newer"
)


def semi_structured_available() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def semi_structured_inference(network: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """A copy of a 2:4-pruned network on the GPU in `dtype`, its Linear weights in PyTorch's
    semi-structured sparse format so matrix products use the sparse tensor-core kernels.

    Raises TrainingError on a machine without a suitable CUDA GPU (the package itself stays dense
    there and predicts the same). Layers whose shapes the kernels do not take stay dense.
    """
    if not semi_structured_available():
        raise TrainingError(f"pruning.kind semi_structured: {SEMI_STRUCTURED_NEEDS}; this machine has none")
    from torch.sparse import to_sparse_semi_structured

    accelerated = copy.deepcopy(network).to(device="cuda", dtype=dtype).eval()
    for module in accelerated.modules():
        if isinstance(module, nn.Linear) and _fits_semi_structured(module.weight):
            module.weight = nn.Parameter(to_sparse_semi_structured(module.weight.detach()), requires_grad=False)
    return accelerated


def _fits_semi_structured(weight: torch.Tensor) -> bool:
    """2:4 pattern present and shapes the CUTLASS kernels accept (rows multiple of 32, columns of 64)."""
    rows, columns = weight.shape
    if rows % 32 or columns % 64:
        return False
    groups = (weight.reshape(rows, -1, 4) != 0).sum(dim=-1)
    return bool((groups <= 2).all())
