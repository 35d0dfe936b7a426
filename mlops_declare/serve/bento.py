"""`build_bento`: a bento holding the generated service, the verified model package, the registry address,
pinned requirements and BentoML's generated Dockerfile, so `bentoml serve <tag>` needs no project folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_declare.errors import MlopsDeclareError

if TYPE_CHECKING:
    from mlops_declare.config import LoadedConfig
    from mlops_declare.registry import ModelVersion, Registry

RUNTIME_REQUIREMENTS = (
    "bentoml",
    "torch",
    "numpy",
    "pyarrow",
    "pydantic",
    "safetensors",
    "sqlalchemy",
    "alembic",
    "fsspec",
    "omegaconf",
    "hydra-core",
    "prometheus-client",
    "psycopg",
)
"""What the served bento imports (mlops_declare travels as source inside the bento)."""


class BuildError(MlopsDeclareError):
    """The bento could not be built."""


def resolve_served(registry: Registry, reference: str) -> ModelVersion:
    """The version `reference` names, or an error that says nothing holds the stage and how to promote one."""
    from mlops_declare.registry import NotFoundError, parse_model_ref

    try:
        return registry.resolve(reference)
    except NotFoundError as exc:
        parsed = parse_model_ref(reference)
        if parsed.label is None:
            raise
        if parsed.label in registry.config.aliases:
            command = f"mlops-declare registry alias {parsed.name}:VERSION --alias {parsed.label}"
        else:
            command = f"mlops-declare registry promote {parsed.name}:VERSION --stage {parsed.label}"
        raise BuildError(
            f"{exc}. Point it at a version first: `{command}` (see `mlops-declare registry list --name {parsed.name}`)"
        ) from None


def pinned_requirements() -> str:
    """requirements.txt pinning what the runtime imports to the versions installed here."""
    lines = []
    for name in RUNTIME_REQUIREMENTS:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def build_bento(loaded: LoadedConfig, project_root: str | Path, ref: str | None = None) -> dict[str, Any]:
    """Build (or reuse) the bento serving `ref` (default `serving.model`) and record it in the registry.

    Returns {"tag": "predictor:3-f-1a2b3c4d5e6f", "version": 3, "path": ".../bentos/predictor/3-f-1a2b3c4d5e6f",
    "model": "digits:3"}; `f` in the tag: the bento follows a label, `p`: pinned to a version.
    The deploy step calls this; the bento's tag is deterministic (model version + config fingerprint),
    so building twice returns the existing bento.
    """
    import bentoml

    from mlops_declare.compiler import compile_plan, render_outputs
    from mlops_declare.registry import Registry, resolve_store_urls
    from mlops_declare.serve.runtime import BUNDLED_PACKAGE, RUNTIME_FILE

    root = Path(project_root).resolve()
    plan = compile_plan(loaded)
    spec = plan.service
    reference = ref or spec.model
    config = loaded.config
    with Registry.from_config(config.registry, root) as registry:
        record = resolve_served(registry, reference)
        # A label (digits@production) is followed by the running bento; a version (digits:3) pins it.
        version_tag = f"{record.version}-{'p' if '@' not in reference else 'f'}-{plan.config_fingerprint[:12]}"
        tag = f"{spec.name}:{version_tag}"
        try:
            bento = bentoml.bentos.get(tag)
        except bentoml.exceptions.NotFound:
            bento = _build(
                loaded,
                root,
                plan,
                reference,
                record,
                registry,
                version_tag,
                BUNDLED_PACKAGE,
                RUNTIME_FILE,
                render_outputs,
                resolve_store_urls,
            )
        try:
            registry.record_deployment(record.ref, f"bento:{bento.tag}", "built", details={"path": str(bento.path)})
        except MlopsDeclareError as exc:
            raise BuildError(f"bento {bento.tag} was built but its deployment record failed: {exc}") from None
    return {"tag": str(bento.tag), "version": record.version, "path": str(bento.path), "model": record.ref}


def _build(
    loaded: LoadedConfig,
    root: Path,
    plan: Any,
    reference: str,
    record: ModelVersion,
    registry: Registry,
    version_tag: str,
    bundled_name: str,
    runtime_name: str,
    render_outputs: Any,
    resolve_store_urls: Any,
) -> Any:
    import bentoml

    from mlops_declare.train.package import load_package

    spec = plan.service
    files = render_outputs(plan, "conf")
    with tempfile.TemporaryDirectory(prefix="mlops-declare-bento-") as scratch:
        context = Path(scratch)
        (context / "service.py").write_text(files[f"{spec.directory}/service.py"], encoding="utf-8")
        registry.load(record.ref, destination=context / bundled_name)
        try:
            load_package(context / bundled_name)  # every file's sha256 against the package spec
        except MlopsDeclareError as exc:
            raise BuildError(f"{record.ref} failed verification; not building: {exc}") from None
        store_url, artifact_url = resolve_store_urls(loaded.config.registry, root)
        registry_settings = dict(loaded.snapshot["registry"])
        registry_settings.update(store_url=loaded.scrub(store_url), artifact_url=loaded.scrub(artifact_url))
        log_dir = Path(spec.inference_log_dir)
        runtime = {
            "reference": reference,
            "model_name": record.name,
            "model_version": record.version,
            "registry": registry_settings,
            "inference_log_dir": str(log_dir if log_dir.is_absolute() else root / log_dir),
            "config_fingerprint": plan.config_fingerprint,
        }
        (context / runtime_name).write_text(json.dumps(runtime, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (context / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
        package_source = Path(__file__).resolve().parent.parent
        shutil.copytree(
            package_source, context / "mlops_declare", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        bentofile = {
            "service": f"service:{spec.class_name}",
            "labels": {
                "project": plan.project,
                "model": record.ref,
                "reference": spec.model,
                "config_fingerprint": plan.config_fingerprint,
            },
            "include": ["service.py", runtime_name, f"{bundled_name}/**", "mlops_declare/**"],
            "python": {"requirements_txt": "requirements.txt", "lock_packages": False},
            "docker": {"python_version": "3.11"},
        }
        import yaml

        (context / "bentofile.yaml").write_text(yaml.safe_dump(bentofile, sort_keys=True), encoding="utf-8")
        try:
            return bentoml.bentos.build_bentofile(
                str(context / "bentofile.yaml"), build_ctx=str(context), version=version_tag
            )
        except bentoml.exceptions.BentoMLException as exc:
            raise BuildError(f"bentoml build failed: {exc}") from None
