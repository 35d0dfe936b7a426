"""The model package: safetensors weights + JSON spec, metrics, resolved config and preprocessing; no pickle anywhere.

Layout of a package directory:
    model_spec.json        architecture, input schema, class names, precision used, file digests
    weights.safetensors    float32 weights; pruned (sparse) tensors as a packed bitmask + non-zero values
    metrics.json           {"val": {...}, "test": {...}}
    config.json            the validated config, secrets as ${oc.env:VAR} references
    preprocessing.json     the fitted preprocessing the model was trained behind (when there is one)
    pruning_report.json    before/after figures (when pruning ran)
    reference_profile.json the training data's reference profile for drift monitoring (`add_package_file`)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlops_declare.atomic import staged_directory
from mlops_declare.contracts.layouts import (
    PACKAGE_CONFIG_FILE,
    PACKAGE_FORMAT,
    PACKAGE_METRICS_FILE,
    PACKAGE_PREPROCESSING_FILE,
    PACKAGE_PRUNING_REPORT_FILE,
    PACKAGE_SPEC_FILE,
    PACKAGE_WEIGHTS_FILE,
)
from mlops_declare.errors import TrainingError
from mlops_declare.train.networks import build_network, outputs_to_predictions, parameter_count

# The package layout is a contract (training writes it, the registry stores it, serving loads it).
SPEC_FILE = PACKAGE_SPEC_FILE
WEIGHTS_FILE = PACKAGE_WEIGHTS_FILE
METRICS_FILE = PACKAGE_METRICS_FILE
CONFIG_FILE = PACKAGE_CONFIG_FILE
PREPROCESSING_FILE = PACKAGE_PREPROCESSING_FILE
PRUNING_REPORT_FILE = PACKAGE_PRUNING_REPORT_FILE


SPARSE_METADATA = "mlops_declare.sparse"
"""safetensors metadata key: JSON {tensor name: shape} of the tensors stored as bitmask + values."""
MASK_SUFFIX = ".__mask"
VALUES_SUFFIX = ".__values"


def weights_bytes(network: nn.Module) -> bytes:
    """The network's state as safetensors bytes (float tensors as float32).

    A float tensor with enough zeros (a pruned weight matrix) is stored as a packed bitmask of its
    non-zero positions plus the non-zero values, so an 80%-sparse model's file is about 4x smaller;
    `read_safetensors` restores the exact dense tensor, so predictions do not change.
    """
    from safetensors.torch import save

    tensors, sparse = encode_sparse(_export_state(network))
    metadata = {SPARSE_METADATA: json.dumps(sparse, sort_keys=True)} if sparse else None
    return save(tensors, metadata=metadata)


def encode_sparse(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
    """Float tensors that shrink by at least 10% as bitmask + values; everything else as it is."""
    tensors: dict[str, torch.Tensor] = {}
    sparse: dict[str, list[int]] = {}
    for name, tensor in state.items():
        if tensor.dtype == torch.float32 and tensor.numel() >= 64:
            flat = tensor.reshape(-1)
            keep = flat != 0
            values = flat[keep]
            encoded_bytes = values.numel() * 4 + (flat.numel() + 7) // 8
            if encoded_bytes <= 0.9 * flat.numel() * 4:
                packed = np.packbits(keep.numpy())
                tensors[name + MASK_SUFFIX] = torch.from_numpy(packed)
                tensors[name + VALUES_SUFFIX] = values.contiguous()
                sparse[name] = list(tensor.shape)
                continue
        tensors[name] = tensor
    return tensors, sparse


def decode_sparse(
    tensors: dict[str, torch.Tensor], sparse: dict[str, list[int]], path: Path
) -> dict[str, torch.Tensor]:
    """The dense state back from `encode_sparse`'s output, bit for bit."""
    state = {name: tensor for name, tensor in tensors.items() if not name.endswith((MASK_SUFFIX, VALUES_SUFFIX))}
    for name, shape in sparse.items():
        mask_tensor, values = tensors.get(name + MASK_SUFFIX), tensors.get(name + VALUES_SUFFIX)
        count = int(np.prod(shape)) if shape else 1
        if mask_tensor is None or values is None or mask_tensor.dtype != torch.uint8 or values.dtype != torch.float32:
            raise TrainingError(f"{path}: sparse tensor {name!r} lacks its mask or values")
        keep = torch.from_numpy(np.unpackbits(mask_tensor.numpy(), count=count).astype(bool))
        if int(keep.sum()) != values.numel():
            raise TrainingError(
                f"{path}: sparse tensor {name!r}: {values.numel()} values for {int(keep.sum())} positions"
            )
        dense = torch.zeros(count, dtype=torch.float32)
        dense[keep] = values
        state[name] = dense.reshape(shape)
    return state


def _export_state(network: nn.Module) -> dict[str, torch.Tensor]:
    state = {}
    for name, tensor in network.state_dict().items():
        tensor = tensor.detach().cpu()
        state[name] = (tensor.float() if tensor.is_floating_point() else tensor).contiguous().clone()
    return state


def export_package(
    directory: Path,
    network: nn.Module,
    spec: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    config_snapshot: dict[str, Any],
    preprocessing_path: Path | None = None,
    pruning_report: dict[str, Any] | None = None,
) -> Path:
    """Write a complete package to `directory`, atomically: a reader sees the old package or the new one."""
    directory = Path(directory)
    with staged_directory(directory) as staging:
        weights = weights_bytes(network)
        (staging / WEIGHTS_FILE).write_bytes(weights)
        files = {WEIGHTS_FILE: _sha256(weights)}
        _write_json(staging / METRICS_FILE, metrics)
        _write_json(staging / CONFIG_FILE, config_snapshot)
        if pruning_report is not None:
            _write_json(staging / PRUNING_REPORT_FILE, pruning_report)
        if preprocessing_path is not None:
            shutil.copyfile(preprocessing_path, staging / PREPROCESSING_FILE)
        for name in (METRICS_FILE, CONFIG_FILE, PRUNING_REPORT_FILE, PREPROCESSING_FILE):
            if (staging / name).is_file():
                files[name] = _sha256((staging / name).read_bytes())
        full_spec = {
            **spec,
            "format": PACKAGE_FORMAT,
            "parameters": parameter_count(network),
            "weights": {
                "file": WEIGHTS_FILE,
                "bytes": len(weights),
                "dtype": "float32",
                "dense_bytes": 4
                * sum(tensor.numel() for tensor in _export_state(network).values() if tensor.is_floating_point()),
            },
            "preprocessing": PREPROCESSING_FILE if preprocessing_path is not None else None,
            "files": files,
        }
        _write_json(staging / SPEC_FILE, full_spec)
    return directory


def add_package_file(directory: Path, name: str, content: bytes, spec_key: str | None = None) -> None:
    """Add (or replace) one file in a written package, with its digest in the spec, atomically."""
    directory = Path(directory)
    if Path(name).name != name or name in (SPEC_FILE, WEIGHTS_FILE):
        raise TrainingError(f"{name!r} cannot be added to a model package")
    with staged_directory(directory) as staging:
        shutil.copytree(directory, staging, dirs_exist_ok=True)
        spec = json.loads((staging / SPEC_FILE).read_text(encoding="utf-8"))
        (staging / name).write_bytes(content)
        spec["files"][name] = _sha256(content)
        if spec_key is not None:
            spec[spec_key] = name
        _write_json(staging / SPEC_FILE, spec)


@dataclass
class ModelPackage:
    """A loaded package: the network in eval mode plus its spec."""

    directory: Path
    spec: dict[str, Any]
    network: nn.Module

    @property
    def architecture(self) -> dict[str, Any]:
        return dict(self.spec["architecture"])

    @property
    def preprocessing_path(self) -> Path | None:
        name = self.spec.get("preprocessing")
        return self.directory / name if name else None

    def preprocessor(self) -> Any:
        """The packaged preprocessing (what turns raw records into this network's input)."""
        from mlops_declare.data import Preprocessor

        if self.preprocessing_path is None:
            raise TrainingError(
                f"{self.directory}: this package has no {PREPROCESSING_FILE}; pass preprocessed features"
            )
        return Preprocessor.load(self.preprocessing_path)

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Predictions for raw records (one dict of source features per row), through the packaged preprocessing."""
        return self.predict(self.preprocessor().transform_records(records))

    @torch.no_grad()
    def outputs(self, features: np.ndarray) -> np.ndarray:
        """Raw network outputs (logits, or standardised values for regression) for preprocessed features."""
        inputs = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        result: np.ndarray = self.network(inputs).numpy()
        return result

    @torch.no_grad()
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (binary: of class 1; multiclass: per class) or regression values."""
        inputs = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        result: np.ndarray = outputs_to_predictions(self.network(inputs), self.architecture).numpy()
        return result


def load_package(directory: Path) -> ModelPackage:
    """Rebuild the network from JSON and safetensors; verify every file's digest; never unpickle."""
    directory = Path(directory)
    spec_path = directory / SPEC_FILE
    if not spec_path.is_file():
        raise TrainingError(f"{directory}: not a model package ({SPEC_FILE} is missing)")
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{spec_path}: not valid JSON ({exc})") from None
    if spec.get("format") != PACKAGE_FORMAT:
        raise TrainingError(f"{spec_path}: format {spec.get('format')!r} is not {PACKAGE_FORMAT!r}")
    _verify_digests(directory, spec.get("files", {}))
    network = build_network(spec["architecture"])
    state = read_safetensors(directory / WEIGHTS_FILE)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrainingError(
            f"{directory / WEIGHTS_FILE}: weights do not fit the architecture in {SPEC_FILE}: {exc}"
        ) from None
    return ModelPackage(directory=directory, spec=spec, network=network.eval())


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; anything else (a pickle, a torch.save zip) is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    data = Path(path).read_bytes()
    if not _looks_like_safetensors(data):
        raise TrainingError(f"{path}: not a safetensors file; model packages never load pickled weights")
    try:
        tensors = load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    except (SafetensorError, ValueError) as exc:
        raise TrainingError(f"{path}: unreadable safetensors file ({exc})") from None
    metadata = header.get("__metadata__") or {}
    if SPARSE_METADATA not in metadata:
        return tensors
    try:
        sparse = json.loads(metadata[SPARSE_METADATA])
    except json.JSONDecodeError as exc:
        raise TrainingError(f"{path}: unreadable {SPARSE_METADATA} metadata ({exc})") from None
    return decode_sparse(tensors, sparse, Path(path))


def _looks_like_safetensors(data: bytes) -> bool:
    # 8-byte little-endian header length, then a JSON object.
    if len(data) < 10:
        return False
    header = int.from_bytes(data[:8], "little")
    return 0 < header <= len(data) - 8 and data[8:9] == b"{"


def load_checkpoint_state(path: Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of a Lightning checkpoint, loaded with `weights_only=True` (no arbitrary objects)."""
    import pickle

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        first_line = str(exc).strip().split("\n")[0]
        raise TrainingError(
            f"{path}: refused to load checkpoint: it holds objects other than tensors and plain data ({first_line})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise TrainingError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    state: dict[str, torch.Tensor] = checkpoint["state_dict"]
    return state


def _verify_digests(directory: Path, files: dict[str, str]) -> None:
    if WEIGHTS_FILE not in files:
        raise TrainingError(f"{directory / SPEC_FILE}: lists no digest for {WEIGHTS_FILE}")
    for name, digest in files.items():
        if Path(name).name != name:
            raise TrainingError(f"{directory / SPEC_FILE}: file name {name!r} leaves the package directory")
        path = directory / name
        if not path.is_file():
            raise TrainingError(f"{path}: missing from the package")
        if _sha256(path.read_bytes()) != digest:
            raise TrainingError(f"{path}: sha256 does not match {SPEC_FILE}; the package was modified or is incomplete")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
