"""Bodies of the users, jobs and events resources (their inputs are `app.schemas`')."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import (
    MAX_RECOMMENDATIONS,
    EventIn,
    implies,
    number,
    text,
    with_rules,
)
from app.services.attribution import RECOMMENDATION_ID_PATTERN

IdPath = Annotated[
    str,
    Path(
        min_length=1, max_length=64, pattern=r"^[^\x00-\x1f/]+$", description="the source's own id"
    ),
]


class PlaceOut(BaseModel):
    city: str | None
    region: str | None
    region_code: str | None
    country: str | None
    latitude: float | None
    longitude: float | None
    label: str


class SalaryOut(BaseModel):
    min: float | None
    max: float | None
    currency: str | None
    period: str | None
    annual_min_usd: float | None
    annual_max_usd: float | None


class JobOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "j17",
                    "title": "Data Scientist",
                    "description": "Build models.",
                    "company": "Acme Analytics",
                    "location": {
                        "city": "San Francisco",
                        "region": "California",
                        "region_code": "CA",
                        "country": "US",
                        "latitude": 37.77,
                        "longitude": -122.42,
                        "label": "San Francisco, CA",
                    },
                    "remote": False,
                    "skills": ["python", "sql"],
                    "salary": {
                        "min": 120000,
                        "max": 150000,
                        "currency": "USD",
                        "period": "year",
                        "annual_min_usd": 120000,
                        "annual_max_usd": 150000,
                    },
                    "employment_type": "full_time",
                    "posted_at": "2026-11-01T00:00:00Z",
                    "expires_at": None,
                    "active": True,
                    "updated_at": "2026-11-26T10:00:00Z",
                }
            ]
        }
    )

    job_id: str
    title: str
    description: str
    company: str | None
    location: PlaceOut | None
    remote: bool
    skills: list[str]
    salary: SalaryOut | None
    employment_type: str | None
    posted_at: datetime | None
    expires_at: datetime | None
    active: bool
    updated_at: datetime


class DesiredSalaryOut(BaseModel):
    amount: float
    currency: str
    period: str
    annual_usd: float


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u42",
                    "headline": "data scientist",
                    "location": None,
                    "current_company": "Globex",
                    "skills": ["python", "sql"],
                    "desired_salary": {
                        "amount": 120000,
                        "currency": "USD",
                        "period": "year",
                        "annual_usd": 120000,
                    },
                    "updated_at": "2026-11-26T10:00:00Z",
                }
            ]
        }
    )

    user_id: str
    headline: str
    location: PlaceOut | None
    current_company: str | None
    skills: list[str]
    desired_salary: DesiredSalaryOut | None
    updated_at: datetime


class EventCreate(EventIn):
    """An interaction event; ids are the source's own (strings or integers). An event
    that follows a recommendation names it (`recommendation_id`, and the job's
    `position` in it) so that it is attributed to that answer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=with_rules(
            implies(number("position"), text("recommendation_id")),
            examples=[
                {
                    "user_id": "u42",
                    "job_id": "j17",
                    "type": "apply",
                    "timestamp": "2026-11-26T10:15:00Z",
                },
                {
                    "user_id": "123",
                    "job_id": "j17",
                    "type": "click",
                    "recommendation_id": "3q2-7wEAAAAbBwAA.pmWkWSBC.Wd5hNmWz0hZ9JLsA",
                    "position": 1,
                },
            ],
        ),
    )

    recommendation_id: str | None = Field(
        None,
        pattern=RECOMMENDATION_ID_PATTERN,
        description="the `recommendation_id` of the /recommend answer this event follows; "
        "it must have been issued to this event's user (422 otherwise)",
    )
    position: int | None = Field(
        None,
        ge=1,
        le=MAX_RECOMMENDATIONS,
        description="the job's place in that answer, 1 for the first (needs recommendation_id)",
    )

    @model_validator(mode="after")
    def _position_needs_recommendation(self) -> EventCreate:
        if self.position is not None and self.recommendation_id is None:
            raise ValueError("position needs recommendation_id")
        return self


class EventOut(BaseModel):
    user_id: str
    job_id: str
    type: str
    timestamp: datetime
    recommendation_id: str | None = None
    position: int | None = None
    created: bool = Field(description="false when the idempotency key was already used")
