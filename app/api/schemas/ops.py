"""Bodies of errors and of the operations endpoints (health, readiness, model, reload)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable: not_found, validation_error, ...")
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one shape of every error."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "not_found",
                        "message": "user 'u999' not found; send an inline profile "
                        "to score a new user",
                        "details": None,
                    }
                }
            ]
        }
    )

    error: ErrorBody


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    model_version: str
    catalog_version: str
    catalog_size: int


class ReloadOut(BaseModel):
    previous_model_version: str
    model_version: str
    catalog_version: str
    catalog_size: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "previous_model_version": "convfm-20261120-3f2a9c1d",
                    "model_version": "convfm-20261126-8b0e4d72",
                    "catalog_version": "c41-7047",
                    "catalog_size": 7047,
                }
            ]
        }
    )


class ModelOut(BaseModel):
    model_version: str
    trained_at: str | None
    created_at: str
    config: dict[str, Any]
    train_config: dict[str, Any] | None
    metrics: dict[str, Any]
    baselines: dict[str, Any] | None
    data_fingerprint: str
    catalog_version: str
    catalog_size: int
    explain: dict[str, Any] | None = Field(
        None,
        description="the model as a whole, on the validation split at training time: "
        "permutation importance per field (drop in NDCG@k and AUC with bootstrap 95% "
        "intervals), the convolution's mean response per filter and field position, "
        "the strongest FM field interactions (`jobrec explain-model` plots them)",
    )


class ModelVersionOut(BaseModel):
    version: str = Field(description="a registered version, or a baseline's name")
    kind: Literal["convfm", "baseline"]
    status: Literal["registered", "production", "retired", "baseline"]
    production: bool = Field(description="the version every worker serves")
    registered_at: datetime | None = None
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="offline metrics of its training run"
    )


class ModelsOut(BaseModel):
    serving: str = Field(description="the version this worker serves now")
    production: str | None = Field(
        description="the registry's production version; null before one is promoted "
        "(MODEL_PATH's checkpoint is served then)"
    )
    models: list[ModelVersionOut] = Field(
        description="registered versions, newest first, then the baselines"
    )


class ModelDetailOut(BaseModel):
    """One model version: the registry's row with what its checkpoint and training
    report hold."""

    version: str
    status: Literal["registered", "production", "retired", "serving"] = Field(
        description="the registry's status; `serving`: the checkpoint at MODEL_PATH, "
        "served and not registered"
    )
    serving: bool = Field(description="this worker serves it now")
    registered_at: datetime | None = None
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    trained_at: str | None = None
    data_cutoff: str | None = Field(None, description="the newest interaction it learned from")
    config: dict[str, Any] = Field(description="the model's hyper-parameters")
    train_config: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(description="offline metrics on its test split")
    baselines: dict[str, Any] | None = Field(None, description="the baselines on the same split")
    ablations: dict[str, Any] | None = None
    explain: dict[str, Any] | None = Field(
        None,
        description="permutation importance per field, the convolution's mean response "
        "per filter and field position, the strongest FM interactions (as GET /model)",
    )
    gate: dict[str, Any] | None = Field(
        None, description="the retraining gate it passed: metric, candidate, production"
    )
    training: dict[str, Any] | None = Field(
        None,
        description="the learning curve: best_epoch, seconds and per epoch its loss, "
        "seconds and validation metrics (from the training report, when kept)",
    )


class EventRateOut(BaseModel):
    minute: datetime = Field(description="the minute's start (UTC)")
    type: str
    count: int = Field(description="events of this type written in that minute")


class RouteLatencyOut(BaseModel):
    route: str
    method: str
    count: int = Field(description="requests since the worker started")
    p50: float | None = Field(description="seconds, estimated from the histogram's buckets")
    p95: float | None
    p99: float | None


class GateOut(BaseModel):
    version: str = Field(description="the candidate the gate let in")
    registered_at: datetime
    status: str
    gate: dict[str, Any]


class StatusOut(BaseModel):
    model_version: str
    catalog_version: str
    catalog_size: int
    catalog_updated_at: datetime | None = Field(
        description="the newest job change the serving catalog holds"
    )
    window_minutes: int
    events: list[EventRateOut] = Field(description="per minute and type, oldest first")
    latency: list[RouteLatencyOut] = Field(description="this worker's, busiest route first")
    retrain_every: str | None = Field(description="RETRAIN_EVERY, when this service knows it")
    last_gate: GateOut | None = Field(description="the newest version that passed a gate")
