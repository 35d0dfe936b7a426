"""Render the BentoML service project (service.py + bentofile.yaml) from the plan's typed ServiceSpec."""

from __future__ import annotations

import pprint
from typing import Any

from mlops_declare.compiler.airflow import header
from mlops_declare.contracts.plan import GENERATOR, GENERATOR_VERSION, Plan
from mlops_declare.contracts.service import (
    BUNDLED_PACKAGE,
    PACKAGE_SOURCE,
    REQUIREMENTS_FILE,
    FeatureSpec,
    ServiceSpec,
    field_name,
)


def _value_type(feature: FeatureSpec) -> str:
    if feature.type == "image":
        depth = len(feature.shape or [])
        return "list[" * depth + "StrictFloat" + "]" * depth
    if feature.type == "categorical":
        base = f"Literal[{', '.join(repr(value) for value in feature.categories)}]" if feature.categories else "str"
    else:
        base = "StrictFloat"  # lax float would take true/false as 1.0/0.0
    return f"{base} | None" if feature.optional else base


def _describe(feature: FeatureSpec) -> str:
    text = f"{feature.type} feature {feature.name!r}"
    if feature.shape:
        text += f", shape {list(feature.shape)}"
    if feature.optional:
        text += "; null or left out means missing (imputed as in training)"
    return text


def _request_models(features: tuple[FeatureSpec, ...] | None, max_rows: int) -> str:
    if features is None:
        return """# The data's columns are inferred at run time: the request models come from the package's input schema.
Record, Columns = request_models(SPEC, DEPLOYMENT)
"""
    record = [
        "class Record(BaseModel):",
        '    """One input row: exactly the features the model was trained on."""',
        "",
        '    model_config = ConfigDict(extra="forbid", populate_by_name=True)',
        "",
    ]
    columns = [
        "class Columns(BaseModel):",
        '    """Columnar input: one list per feature, all of the same length."""',
        "",
        '    model_config = ConfigDict(extra="forbid", populate_by_name=True)',
        "",
    ]
    taken: set[str] = set()
    for feature in features:
        name = field_name(feature.name, taken)
        alias = f", alias={feature.name!r}" if name != feature.name else ""
        default = "default=None, " if feature.optional else ""
        description = _describe(feature)
        record.append(f"    {name}: {_value_type(feature)} = Field({default}description={description!r}{alias})")
        column_type = f"list[{_value_type(feature)}]" + (" | None" if feature.optional else "")
        columns.append(
            f"    {name}: {column_type} = Field({default}max_length={max_rows}, description={description!r}{alias})"
        )
    return "\n".join(record) + "\n\n\n" + "\n".join(columns) + "\n"


def _spec_literal(spec: ServiceSpec) -> str:
    data = spec.model_dump(mode="json")
    return pprint.pformat(data, indent=1, width=150, compact=True, sort_dicts=True)


API_ROUTES_PATTERN = r"/(predict|predict_batch|metadata)([?]|$)"
"""The service's own routes, as OpenTelemetry's excluded-URL regex (BentoML's `tracing.excluded_urls`)."""


def _logging(spec: ServiceSpec) -> dict[str, Any]:
    return {"access": {"enabled": spec.access_log}}


def _tracing(spec: ServiceSpec) -> dict[str, Any]:
    """BentoML's tracing settings: export to the configured OTLP collector, or leave the API routes untraced."""
    tracing = spec.tracing
    if tracing.exporter is None:
        return {"excluded_urls": [API_ROUTES_PATTERN]}
    return {
        "exporter_type": tracing.exporter,
        "sample_rate": tracing.sample_rate,
        "otlp": {"protocol": tracing.protocol, "endpoint": tracing.endpoint},
    }


def render_service(plan: Plan, source: str) -> str:
    spec = plan.service
    resources: dict[str, str] = {"cpu": str(spec.resources.cpu), "memory": spec.resources.memory}
    if spec.resources.gpu:
        resources["gpu"] = str(spec.resources.gpu)
    # The concurrency cap (429 with Retry-After) and body limit live in ServiceGuard; BentoML enforces the deadline (504).
    traffic = {"timeout": spec.limits.timeout_s}
    observability = f"logging={_logging(spec)!r}, tracing={_tracing(spec)!r}"
    max_rows = spec.limits.max_rows
    return f'''{header(f"BentoML service {spec.name!r} serving {spec.model}.", source, spec.fingerprint, "service")}
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from mlops_declare.contracts.service import ServiceSpec
from mlops_declare.serve.deployment import resolve_deployment
from mlops_declare.serve.middleware import ServiceGuard
from mlops_declare.serve.runtime import Runtime, activate
from mlops_declare.serve.schemas import Metadata, PredictResponse
from mlops_declare.serve.service import answer, answer_columns, describe, request_models

HERE = Path(__file__).resolve().parent
SERVICE_FINGERPRINT = {spec.fingerprint!r}
SPEC = ServiceSpec.model_validate(
{_spec_literal(spec)}
)
# Addresses resolve when the service starts: relative ones against MLOPS_DECLARE_PROJECT_ROOT, ${{oc.env:VAR}}
# in memory; a bento's build arguments name the version bundled with it and the reference it follows.
DEPLOYMENT = resolve_deployment(SPEC, HERE, vars(bentoml.use_arguments()))

_ = Literal  # used by categorical fields with declared categories


{_request_models(spec.features, max_rows)}

@bentoml.service(name={spec.name!r}, resources={resources!r}, traffic={traffic!r}, workers={spec.workers},
                 {observability})
class {spec.class_name}:
    """Serves {spec.model} from the registry (digest verified), following promotions every {spec.reload_s:g} s."""

    def __init__(self) -> None:
        self.runtime = Runtime(SPEC, DEPLOYMENT)
        activate(self.runtime)  # the ASGI guard answers GET /metadata from this worker's runtime
        self.runtime.start()  # loads, verifies and warms in the background; /readyz is 503 until then

    def __is_ready__(self) -> bool:
        return self.runtime.ready

    @bentoml.on_shutdown
    def flush(self) -> None:
        self.runtime.close()

    @bentoml.api(route="/predict")
    async def predict(
        self, records: Annotated[list[Record], Field(min_length=1, max_length={max_rows})], ctx: bentoml.Context
    ) -> PredictResponse:
        """Predictions for records (one object per row, keyed by feature name)."""
        return await answer(self.runtime, "predict", [record.model_dump(by_alias=True) for record in records], ctx)

    @bentoml.api(route="/predict_batch")
    async def predict_batch(self, columns: Columns, ctx: bentoml.Context) -> PredictResponse:
        """Predictions for columnar input (one list per feature)."""
        return await answer_columns(self.runtime, columns.model_dump(by_alias=True), ctx)

    @bentoml.api(route="/metadata")
    def metadata(self, ctx: bentoml.Context) -> Metadata:
        """The served model: name, version, stage, features, metrics, config fingerprint (also GET /metadata)."""
        return describe(self.runtime, ctx)


{spec.class_name}.add_asgi_middleware(ServiceGuard, spec=SPEC)
'''


def render_bentofile(plan: Plan, source: str) -> str:
    """The one bentofile: `mlops-declare build` and the deploy step build with it as it is committed.

    They copy the service folder into a build context beside the verified package, the source and
    the pinned requirements this file names, and pass the model version as labels and build arguments.
    """
    spec = plan.service
    lines = [
        f"# BentoML build file of service {spec.name!r} serving {spec.model}.",
        f"# Generated by {GENERATOR} {GENERATOR_VERSION} from {source} (service fingerprint {spec.fingerprint}).",
        "# Do not edit; regenerate with `mlops-declare compile`. Build with `mlops-declare build` (or the deploy",
        f"# step): it adds {BUNDLED_PACKAGE}/ (the verified package), {PACKAGE_SOURCE}/ and a pinned {REQUIREMENTS_FILE},",
        "# and names the model version in labels and build arguments.",
        f'service: "service:{spec.class_name}"',
        "labels:",
        f'  project: "{spec.project}"',
        f'  reference: "{spec.model}"',
        f'  service_fingerprint: "{spec.fingerprint}"',
        "include:",
        '  - "service.py"',
        f'  - "{BUNDLED_PACKAGE}/**"',
        f'  - "{PACKAGE_SOURCE}/**"',
        "exclude:",
        '  - "__pycache__/"',
        "python:",
        f'  requirements_txt: "{REQUIREMENTS_FILE}"',
        "  lock_packages: false",
        "docker:",
        '  python_version: "3.11"',
    ]
    return "\n".join(lines) + "\n"


def render_service_project(plan: Plan, source: str) -> dict[str, str]:
    directory = plan.service.directory
    return {
        f"{directory}/service.py": render_service(plan, source),
        f"{directory}/bentofile.yaml": render_bentofile(plan, source),
    }
