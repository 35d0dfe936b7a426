"""Response and metadata models of the generated service (fixed; request models follow the data schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Prediction(BaseModel):
    """One row's answer."""

    prediction: str | float = Field(description="Predicted class name (classification) or value (regression)")
    probability: float | None = Field(default=None, description="Probability of the predicted class (classification)")
    probabilities: dict[str, float] | None = Field(default=None, description="Probability per class, in class order")


class PredictResponse(BaseModel):
    """Answers in request order, and which registered version gave them."""

    model: str = Field(description="Registered model name")
    version: int = Field(description="Registry version that answered")
    request_id: str = Field(description="Echoes X-Request-ID when sent; the inference log's request_id")
    predictions: list[Prediction]


class FeatureInfo(BaseModel):
    """One input feature as the served model expects it."""

    name: str
    type: str
    optional: bool
    categories: list[str] | None = None
    shape: list[int] | None = None


class Metadata(BaseModel):
    """What is being served."""

    name: str
    version: int
    reference: str = Field(description="The registry reference the service follows, e.g. digits@production")
    stage: str | None = Field(description="Stage or alias followed, when the reference names one")
    features: list[FeatureInfo]
    class_names: list[str] | None
    metrics: dict[str, Any]
    service_fingerprint: str = Field(
        description="SERVICE_FINGERPRINT of the generated service (plan.json's service.fingerprint)"
    )
    candidate: dict[str, Any] | None = Field(
        default=None, description="Canary or shadow candidate, when a rollout runs"
    )
