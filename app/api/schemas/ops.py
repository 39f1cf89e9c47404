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
