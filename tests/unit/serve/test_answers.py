"""Answer bodies: built by the runtime in PredictResponse's shape and encoded directly, equal to pydantic's encoding."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mlops_declare.serve.loading import ServedVersion
from mlops_declare.serve.runtime import RequestOutcome
from mlops_declare.serve.schemas import PredictResponse
from mlops_declare.serve.service import _response


def version(task: str, class_names: list[str] | None) -> ServedVersion:
    return ServedVersion(
        name="m",
        version=3,
        package=None,
        preprocessor=None,
        class_names=class_names,
        task=task,
        metrics={},
        features=[],
    )


def context() -> Any:
    return SimpleNamespace(response=SimpleNamespace(headers={}, status_code=200))


@pytest.mark.parametrize(
    ("task", "class_names", "outputs"),
    [
        ("binary", ["benign", "malignant"], np.array([0.25, 0.75], dtype=np.float32)),
        ("multiclass", ["a", "b", "c"], np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]], dtype=np.float32)),
        ("multiclass", None, np.array([[0.1, 0.9]], dtype=np.float32)),
        ("regression", None, np.array([1.5, -2.25], dtype=np.float32)),
    ],
)
def test_the_encoded_answer_is_what_pydantic_would_send(
    task: str, class_names: list[str] | None, outputs: np.ndarray
) -> None:
    served = version(task, class_names)
    body = {"model": "m", "version": 3, "request_id": "r1", "predictions": served.answers(outputs)}
    ctx = context()
    response = _response(RequestOutcome(200, body, {"X-Request-ID": "r1"}), ctx)
    assert response.media_type == "application/json" and ctx.response.headers == {"X-Request-ID": "r1"}
    assert json.loads(response.body) == json.loads(PredictResponse.model_validate(body).model_dump_json())
    first = body["predictions"][0]
    if task == "regression":
        assert first["prediction"] == pytest.approx(1.5)
    else:
        assert first["prediction"] == max(first["probabilities"], key=first["probabilities"].get)
        assert sum(first["probabilities"].values()) == pytest.approx(1.0)


def test_a_non_finite_output_is_sent_as_null_not_as_invalid_json() -> None:
    served = version("regression", None)
    body = {
        "model": "m",
        "version": 3,
        "request_id": "r1",
        "predictions": served.answers(np.array([np.nan], dtype=np.float32)),
    }
    response = _response(RequestOutcome(200, body), context())
    assert isinstance(response, PredictResponse)
    assert json.loads(response.model_dump_json())["predictions"][0]["prediction"] is None


def test_missing_inputs_are_counted_per_served_feature_and_other_keys_mint_no_labels(tmp_path: Any) -> None:
    from prometheus_client import REGISTRY

    from mlops_declare.compiler import compile_outputs
    from mlops_declare.config import load_config
    from mlops_declare.contracts.service import FeatureSpec
    from mlops_declare.serve.deployment import resolve_deployment
    from mlops_declare.serve.runtime import Runtime

    plan, _ = compile_outputs(load_config("conf", []))
    runtime = Runtime(plan.service, resolve_deployment(plan.service, tmp_path, environ={}))
    served = version("binary", ["no", "yes"])
    served.features = [FeatureSpec(name="unit a", type="numeric", shape=None, categories=None, optional=True)]
    records: list[dict[str, Any]] = [{"unit a": None, "stray key": None}, {"unit a": 1.0}, {"stray key": 2.0}]
    runtime._count("predict", served, "primary", records, served.answers(np.array([0.2, 0.9, 0.4], dtype=np.float32)))
    assert REGISTRY.get_sample_value("mlops_serving_missing_inputs_total", {"feature": "unit a"}) == 2.0
    assert REGISTRY.get_sample_value("mlops_serving_missing_inputs_total", {"feature": "stray key"}) is None
    assert (
        REGISTRY.get_sample_value(
            "mlops_serving_predictions_total", {"model_version": "3", "variant": "primary", "prediction": "no"}
        )
        == 2.0
    )
