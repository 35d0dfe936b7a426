"""`build_bento`: the committed service folder, built with its committed bentofile into a bento that holds the
verified model package, the mlops_declare source and pinned requirements, so `bentoml serve` needs no project.

Nothing is compiled here: the plan (the project's plan.json, or a run's snapshot) says what the service
is, and the committed service.py must carry its SERVICE_FINGERPRINT. The bento holds no address of
the machine that built it; the model version goes in as labels and build arguments. Bentos go to the
BentoML home `serving.bento_store` (default `<project.home>/bentos`), not the global `~/bentoml`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_declare.contracts.plan import Plan, PlanError
from mlops_declare.contracts.service import BUNDLED_PACKAGE, PACKAGE_SOURCE, REQUIREMENTS_FILE, ServiceSpec
from mlops_declare.errors import MlopsDeclareError
from mlops_declare.serve.deployment import MODEL_ARGUMENT, REFERENCE_ARGUMENT

if TYPE_CHECKING:
    from mlops_declare.config import LoadedConfig, ProjectConfig
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
    "prometheus-client",
    "psycopg",
)
"""What the served bento imports (mlops_declare travels as source inside the bento)."""

BENTO_STORE_FOLDER = "bentos"
"""Default BentoML home of a project's bentos, under `project.home`."""

SERVICE_FINGERPRINT_LINE = re.compile(r"^SERVICE_FINGERPRINT = '([0-9a-f]*)'$", re.MULTILINE)


class BuildError(MlopsDeclareError):
    """The bento could not be built."""


@dataclass(frozen=True)
class BuiltBento:
    """A bento of the served reference: its tag, the model it bundles and whether this call built it."""

    tag: str
    version: int
    model: str
    """`<name>:<version>` of the bundled package."""
    path: Path
    newly_built: bool
    """False when a bento with this tag was already in the store (the tag is the model version + service fingerprint)."""


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


def bento_store(config: ProjectConfig, project_root: Path) -> Path:
    """The BentoML home bentos are built into: `serving.bento_store`, default `<project.home>/bentos`."""
    configured = config.serving.bento_store
    if configured is None:
        return config.project.home_path(project_root) / BENTO_STORE_FOLDER
    path = Path(configured).expanduser()
    return path if path.is_absolute() else Path(project_root).resolve() / path


def committed_service(plan: Plan, project_root: Path, folder: Path | None = None) -> Path:
    """The project's service folder (or `folder`), checked against the plan (one line naming `mlops-declare compile` otherwise)."""
    folder = folder or project_root / plan.service.directory
    source = folder / "service.py"
    try:
        found = SERVICE_FINGERPRINT_LINE.search(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{source}: no generated service here; run `mlops-declare compile`") from None
    plan.require_service(found[1] if found else "", str(source))
    if not (folder / "bentofile.yaml").is_file():
        raise PlanError(f"{folder / 'bentofile.yaml'}: missing; run `mlops-declare compile`")
    return folder


def version_tag(spec: ServiceSpec, version: int, reference: str) -> str:
    """`<version>-<f|p>-<service fingerprint>`: `f` the bento follows a label, `p` it is pinned to the version."""
    return f"{version}-{'f' if '@' in reference else 'p'}-{spec.fingerprint[:12]}"


def build_bento(
    plan: Plan, loaded: LoadedConfig, project_root: Path, ref: str | None = None, service_dir: Path | None = None
) -> BuiltBento:
    """Build (or find) the bento serving `ref` (default the plan's `serving.model`) and record it in the registry.

    The service project is the committed `service/` folder, or `service_dir` (a local run whose command
    line changed the service writes its own into the run folder); either is checked against the plan.
    The tag is deterministic (model version + service fingerprint), so building twice finds the first
    bento; the `built` deployment record is written once per bento.
    """
    from mlops_declare.registry import open_registry

    root = Path(project_root).resolve()
    spec = plan.service
    folder = committed_service(plan, root, service_dir)
    reference = ref or spec.model
    with open_registry(loaded.config.registry, root, read_only=False) as registry:  # the build is recorded
        record = resolve_served(registry, reference)
        tag = f"{spec.name}:{version_tag(spec, record.version, reference)}"
        with bentoml_home(bento_store(loaded.config, root)):
            bento, newly_built = _existing(tag), False
            if bento is None:
                bento, newly_built = _build(folder, spec, reference, record, registry), True
        built = BuiltBento(str(bento.tag), record.version, record.ref, Path(bento.path), newly_built)
        _record_build(registry, built)
    return built


def _existing(tag: str) -> Any:
    import bentoml

    try:
        return bentoml.bentos.get(tag)
    except bentoml.exceptions.NotFound:
        return None


def _record_build(registry: Registry, built: BuiltBento) -> None:
    """The `built` deployment record of the bento, unless an earlier call wrote it."""
    target = f"bento:{built.tag}"
    name = built.model.rpartition(":")[0]
    if any(r.target == target and r.status == "built" for r in registry.deployments(name)):
        return
    try:
        registry.record_deployment(built.model, target, "built", details={"path": str(built.path)})
    except MlopsDeclareError as exc:
        raise BuildError(f"bento {built.tag} was built but its deployment record failed: {exc}") from None


def _build(folder: Path, spec: ServiceSpec, reference: str, record: ModelVersion, registry: Registry) -> Any:
    """The committed service folder + the verified package + the source + pinned requirements, built by BentoML."""
    import bentoml

    from mlops_declare.train.package import load_package

    with tempfile.TemporaryDirectory(prefix="mlops-declare-bento-") as scratch:
        context = Path(scratch) / "context"
        shutil.copytree(folder, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", BUNDLED_PACKAGE))
        registry.load(record.ref, destination=context / BUNDLED_PACKAGE)
        try:
            load_package(context / BUNDLED_PACKAGE)  # every file's sha256 against the package spec
        except MlopsDeclareError as exc:
            raise BuildError(f"{record.ref} failed verification; not building: {exc}") from None
        (context / REQUIREMENTS_FILE).write_text(pinned_requirements(), encoding="utf-8")
        source = Path(__file__).resolve().parent.parent
        shutil.copytree(source, context / PACKAGE_SOURCE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        facts = {MODEL_ARGUMENT: record.ref, REFERENCE_ARGUMENT: reference}
        try:
            return bentoml.bentos.build_bentofile(
                str(context / "bentofile.yaml"),
                build_ctx=str(context),
                version=version_tag(spec, record.version, reference),
                labels=facts,
                args=facts,
                reload=True,  # a `service` module imported by an earlier build in this process is another project's
            )
        except bentoml.exceptions.BentoMLException as exc:
            raise BuildError(f"bentoml build failed: {exc}") from None


BENTOML_HOME_PROVIDERS: dict[str, str] = {
    "bentoml_home": "",
    "bento_store_dir": "bentos",
    "tmp_bento_store_dir": "tmp",
    "model_store_dir": "models",
    "env_store_dir": "envs",
}
"""BentoML's container providers derived from BENTOML_HOME, and their folder under it."""


@contextmanager
def bentoml_home(home: Path) -> Iterator[Path]:
    """Point BentoML's stores at `home` for the duration (what `BENTOML_HOME=home` does for a fresh process).

    BentoML reads BENTOML_HOME once per process and caches every store derived from it; patching
    the providers lets one process build into the project's store whatever it used before.
    """
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    folders = {name: home / sub if sub else home for name, sub in BENTOML_HOME_PROVIDERS.items()}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for name, folder in folders.items():
            stack.enter_context(getattr(BentoMLContainer, name).patch(str(folder)))
        stack.enter_context(BentoMLContainer.bento_store.patch(BentoStore(str(folders["bento_store_dir"]))))
        stack.enter_context(BentoMLContainer.tmp_bento_store.patch(BentoStore(str(folders["tmp_bento_store_dir"]))))
        stack.enter_context(BentoMLContainer.model_store.patch(ModelStore(str(folders["model_store_dir"]))))
        yield home
