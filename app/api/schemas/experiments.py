"""Bodies of the experiments resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import _Input

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.-]+$")]


class VariantIn(_Input):
    name: Name
    model: Annotated[str, StringConstraints(min_length=1, max_length=120)] = Field(
        description="a registered version (GET /models) or a baseline: popularity, content"
    )
    traffic: float = Field(gt=0, le=1, description="share of the users, the shares sum to 1")


class ExperimentIn(_Input):
    """The variants' traffic shares sum to 1, `control` names one of them and their names
    differ (422 `invalid_experiment` otherwise); each model is a registered version or a
    baseline (422 `unknown_model`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "convfm-vs-popularity",
                    "control": "popularity",
                    "variants": [
                        {"name": "popularity", "model": "popularity", "traffic": 0.5},
                        {
                            "name": "convfm",
                            "model": "convfm-20261126-101500-1a2b3c4d",
                            "traffic": 0.5,
                        },
                    ],
                }
            ]
        }
    )

    name: Name
    control: Name = Field(description="the variant the others are compared with")
    variants: list[VariantIn] = Field(min_length=2, max_length=10)


class VariantOut(BaseModel):
    name: str
    model: str
    traffic: float


class ExperimentOut(BaseModel):
    name: str
    control: str
    variants: list[VariantOut]
    status: str = Field(description="running or stopped")
    started_at: datetime
    stopped_at: datetime | None


class RateOut(BaseModel):
    value: float | None = Field(description="null when no slate was served")
    ci_low: float | None = Field(description="95% Wilson interval")
    ci_high: float | None


class PositionRateOut(BaseModel):
    position: int = Field(description="1 for the first job of a slate")
    slates: int = Field(description="slates with a job at this position")
    clicks: int
    rate: float


class VariantReportOut(BaseModel):
    name: str
    model: str
    users: int
    slates: int
    clicked_slates: int
    applied_slates: int
    clicks: int
    applies: int
    ctr: RateOut = Field(description="slates with at least one click over slates served")
    apply_rate: RateOut = Field(description="slates with at least one apply over slates served")
    position_ctr: list[PositionRateOut]
    coverage: float | None = Field(description="distinct jobs served over the catalog's size")
    diversity: float | None = Field(description="mean distinct companies per slate")


class ComparisonOut(BaseModel):
    variant: str
    metric: str = Field(description="ctr or apply_rate")
    lift: float | None = Field(description="the variant's rate over the control's, minus 1")
    ci_low: float | None = Field(description="95% interval of the lift")
    ci_high: float | None
    p_value: float | None = Field(description="two-proportion z-test against the control")


class ExperimentReportOut(BaseModel):
    experiment: ExperimentOut
    variants: list[VariantReportOut]
    comparisons: list[ComparisonOut]
