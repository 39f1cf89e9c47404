"""Request and response bodies of the HTTP API, with the examples shown on /docs:
`recommend`, `entities` (users, jobs, events), `ops` (errors, health, model); the
inputs shared with the importers are `app.schemas`'."""

from __future__ import annotations

from app.api.schemas.entities import (
    DesiredSalaryOut,
    EventCreate,
    EventOut,
    IdPath,
    JobOut,
    PlaceOut,
    SalaryOut,
    UserOut,
)
from app.api.schemas.ops import (
    ErrorBody,
    ErrorResponse,
    HealthOut,
    ModelDetailOut,
    ModelOut,
    ModelsOut,
    ModelVersionOut,
    ReadyOut,
    ReloadOut,
    StatusOut,
)
from app.api.schemas.recommend import (
    MAX_LIST,
    BatchItem,
    BatchRecommendRequest,
    BatchRecommendResponse,
    LocationFilter,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
)
from app.schemas import DesiredSalaryIn, JobIn, PlaceIn, SkillName, UserIn

__all__ = [
    "MAX_LIST",
    "BatchItem",
    "BatchRecommendRequest",
    "BatchRecommendResponse",
    "DesiredSalaryIn",
    "DesiredSalaryOut",
    "ErrorBody",
    "ErrorResponse",
    "EventCreate",
    "EventOut",
    "HealthOut",
    "IdPath",
    "JobIn",
    "JobOut",
    "LocationFilter",
    "ModelDetailOut",
    "ModelOut",
    "ModelVersionOut",
    "ModelsOut",
    "PlaceIn",
    "PlaceOut",
    "ReadyOut",
    "RecommendRequest",
    "RecommendResponse",
    "Recommendation",
    "ReloadOut",
    "SalaryOut",
    "SkillName",
    "StatusOut",
    "UserIn",
    "UserOut",
]
