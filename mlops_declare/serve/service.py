"""Glue between the generated service.py and the runtime: HTTP answers, columnar input, request models."""

from __future__ import annotations

import json
from typing import Any

from mlops_declare.contracts.service import FeatureSpec, ServiceSpec, field_name
from mlops_declare.serve.deployment import Deployment
from mlops_declare.serve.runtime import RequestOutcome, Runtime, columns_to_records


async def answer(runtime: Runtime, endpoint: str, records: list[dict[str, Any]], ctx: Any) -> Any:
    """Run the runtime and turn its outcome into BentoML's response (status and headers via `ctx`)."""
    request_id = ctx.request.headers.get("x-request-id")
    outcome = await runtime.predict(endpoint, records, request_id)
    return _response(outcome, ctx)


async def answer_columns(runtime: Runtime, columns: dict[str, Any], ctx: Any) -> Any:
    """/predict_batch: columns of equal length become records, then as /predict."""
    try:
        records = columns_to_records(columns, runtime.spec.limits.max_rows)
    except ValueError as exc:
        outcome = RequestOutcome(
            400, {"error": str(exc), "detail": [{"loc": ["columns"], "msg": str(exc), "type": "value_error"}]}
        )
        return _response(outcome, ctx)
    return await answer(runtime, "predict_batch", records, ctx)


def describe(runtime: Runtime, ctx: Any) -> Any:
    """/metadata: what is served, or 503 while nothing is."""
    from mlops_declare.serve.loading import ServingError
    from mlops_declare.serve.schemas import Metadata

    try:
        return Metadata.model_validate(runtime.metadata())
    except ServingError as exc:
        return _response(RequestOutcome(503, {"error": str(exc)}, {"Retry-After": "5"}), ctx)


def _response(outcome: RequestOutcome, ctx: Any) -> Any:
    from starlette.responses import JSONResponse, Response

    for key, value in outcome.headers.items():
        ctx.response.headers[key] = value
    if outcome.status == 200:
        # The runtime builds the body in PredictResponse's shape (tests/unit/serve check it against the
        # model); encoding it directly skips a validate-then-dump round trip on every answer.
        try:
            return Response(json.dumps(outcome.body, allow_nan=False), media_type="application/json")
        except ValueError:  # a NaN or infinite output: pydantic writes those as null
            from mlops_declare.serve.schemas import PredictResponse

            return PredictResponse.model_validate(outcome.body)
    # BentoML copies ctx.response.status_code onto a returned Response, so both must say the same.
    ctx.response.status_code = outcome.status
    return JSONResponse(outcome.body, status_code=outcome.status)


def request_models(spec: ServiceSpec, deployment: Deployment) -> tuple[type[Any], type[Any]]:
    """Record and Columns models for a service whose features only the data can tell.

    Read from the bundled package (a bento) or the package the registry serves now; when neither
    can be read at import time, records accept any fields: the runtime
    refuses a record that lacks a feature (400) and ignores fields the model has no feature for.
    """
    from pydantic import BaseModel, ConfigDict

    features = _package_features(deployment)
    if features is None:

        class Record(BaseModel):
            """One input row; the data's columns are inferred at run time, so the runtime checks the fields."""

            model_config = ConfigDict(extra="allow")

        class Columns(BaseModel):
            """Columnar input: one list per feature; the runtime checks the fields."""

            model_config = ConfigDict(extra="allow")

        return Record, Columns
    return _typed_models(features, spec.limits.max_rows)


def _typed_models(features: list[FeatureSpec], max_rows: int) -> tuple[type[Any], type[Any]]:
    from pydantic import ConfigDict, Field, StrictFloat, create_model

    record_fields: dict[str, Any] = {}
    column_fields: dict[str, Any] = {}
    taken: set[str] = set()
    for feature in features:
        name = field_name(feature.name, taken)
        value: Any = {"numeric": StrictFloat, "categorical": str}.get(feature.type, list[Any])
        if feature.optional:
            record_fields[name] = (value | None, Field(default=None, alias=feature.name))
            column_fields[name] = (
                list[value | None] | None,
                Field(default=None, alias=feature.name, max_length=max_rows),
            )
        else:
            record_fields[name] = (value, Field(alias=feature.name))
            column_fields[name] = (list[value], Field(alias=feature.name, max_length=max_rows))
    config = ConfigDict(extra="forbid", populate_by_name=True)
    record = create_model("Record", __config__=config, **record_fields)
    columns = create_model("Columns", __config__=config, **column_fields)
    return record, columns


def _package_features(deployment: Deployment) -> list[FeatureSpec] | None:
    import logging

    from mlops_declare.contracts.layouts import PACKAGE_PREPROCESSING_FILE, PACKAGE_SPEC_FILE
    from mlops_declare.data import Preprocessor
    from mlops_declare.serve.deployment import open_registry
    from mlops_declare.serve.loading import features_of_package

    bundled = deployment.bundle_dir / PACKAGE_PREPROCESSING_FILE
    try:
        if bundled.is_file():
            return features_of_package(Preprocessor.load(bundled), None)
        with open_registry(deployment) as registry:
            directory = registry.load(deployment.reference)
        spec_file = json.loads((directory / PACKAGE_SPEC_FILE).read_text(encoding="utf-8"))
        return features_of_package(Preprocessor.load(directory / spec_file["preprocessing"]), None)
    except Exception as exc:  # noqa: BLE001 - no model yet (or no registry here): accept any fields and let the runtime check them
        logging.getLogger("mlops_declare.serve").warning("request fields cannot be typed yet: %s", exc)
        return None
