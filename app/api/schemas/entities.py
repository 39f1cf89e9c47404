"""Bodies of the users, jobs and events resources (their inputs are `app.schemas`')."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from app.schemas import (
    EventIn,
)

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
    """An interaction event; ids are the source's own (strings or integers)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u42",
                    "job_id": "j17",
                    "type": "apply",
                    "timestamp": "2026-11-26T10:15:00Z",
                }
            ]
        },
    )


class EventOut(BaseModel):
    user_id: str
    job_id: str
    type: str
    timestamp: datetime
    created: bool = Field(description="false when the idempotency key was already used")
